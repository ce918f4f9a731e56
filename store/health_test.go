package store

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestHealthFile: a prober's edits reach State; an edit by another
// writer (tug healthcheck run, with a file of its own) is seen by the
// prober's next edit, not overwritten from its memory; bytes a longer
// record left after a shorter one, or a record that does not decode,
// fail no reader; a container with no record has no health.
func TestHealthFile(t *testing.T) {
	s := testStore(t)
	id := strings.Repeat("c", 64)
	if err := s.CreateContainer(&Container{ID: id, Name: "hc", Image: someImage}); err != nil {
		t.Fatal(err)
	}
	if st, err := s.State(id); err != nil || st.Health != nil {
		t.Fatalf("no record: %+v, %v", st, err)
	}
	if err := s.ResetHealth(id); err != nil {
		t.Fatal(err)
	}
	prober, err := s.OpenHealth(id)
	if err != nil {
		t.Fatal(err)
	}
	defer prober.Close()
	add := func(h *HealthFile, code int) Health {
		t.Helper()
		got, err := h.Edit(func(h *Health) {
			h.Log = append(h.Log, HealthResult{Start: time.Unix(int64(len(h.Log)), 0).UTC(), ExitCode: code})
			h.FailingStreak++
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	add(prober, 1)
	if st, err := s.State(id); err != nil || st.Health == nil || st.Health.Status != HealthStarting || len(st.Health.Log) != 1 {
		t.Fatalf("after one probe: %+v, %v", st.Health, err)
	}
	byHand, err := s.OpenHealth(id)
	if err != nil {
		t.Fatal(err)
	}
	add(byHand, 2)
	byHand.Close()
	if got := add(prober, 3); len(got.Log) != 3 || got.Log[1].ExitCode != 2 || got.FailingStreak != 3 {
		t.Fatalf("the prober's edit after another's: %+v", got)
	}
	// a kill between the write and the truncate
	b, _ := os.ReadFile(s.healthPath(id))
	if err := os.WriteFile(s.healthPath(id), append(b, `,"Log":[]} junk`...), 0o600); err != nil {
		t.Fatal(err)
	}
	if st, err := s.State(id); err != nil || len(st.Health.Log) != 3 {
		t.Fatalf("with trailing bytes: %+v, %v", st.Health, err)
	}
	if got := add(prober, 4); len(got.Log) != 4 {
		t.Fatalf("edit over trailing bytes: %+v", got)
	}
	if err := os.WriteFile(s.healthPath(id), []byte(`{"Status": tor`), 0o600); err != nil {
		t.Fatal(err)
	}
	if st, err := s.State(id); err != nil || st.Health.Status != HealthStarting || len(st.Health.Log) != 0 {
		t.Fatalf("a record that does not decode: %+v, %v", st.Health, err)
	}
}

// TestStateWatch: the watch reads the state again after every SetState
// and not otherwise.
func TestStateWatch(t *testing.T) {
	s := testStore(t)
	id := strings.Repeat("d", 64)
	if err := s.CreateContainer(&Container{ID: id, Name: "w", Image: someImage}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetState(id, &ContainerState{Status: StatusRunning}); err != nil {
		t.Fatal(err)
	}
	w := s.WatchState(id)
	first, err := w.State()
	if err != nil || first.Status != StatusRunning {
		t.Fatalf("first read: %+v, %v", first, err)
	}
	// a state written just now is read again (a twin of its stamp could
	// follow it, settleTime), a settled one is not
	if again, err := w.State(); err != nil || again == first {
		t.Fatalf("a state of just now not read again: %p %p, %v", again, first, err)
	}
	time.Sleep(settleTime + 10*time.Millisecond)
	settledRead, _ := w.State()
	if again, err := w.State(); err != nil || again != settledRead {
		t.Fatalf("unchanged state read again: %p %p, %v", again, settledRead, err)
	}
	for _, paused := range []bool{true, false, true} {
		if err := s.SetState(id, &ContainerState{Status: StatusRunning, Paused: paused}); err != nil {
			t.Fatal(err)
		}
		if st, err := w.State(); err != nil || st.Paused != paused {
			t.Fatalf("after SetState(paused %v): %+v, %v", paused, st, err)
		}
	}
}
