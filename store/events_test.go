package store

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestEventsConcurrentAndRotated: writers at once lose nothing, across
// a rotation, and the reader gets every event once, in each writer's
// order.
func TestEventsConcurrentAndRotated(t *testing.T) {
	s := testStore(t)
	const writers, each = 4, 1200 // about 1.3 MB: one rotation
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				s.Emit("container", "start", fmt.Sprintf("w%d", w), map[string]string{"n": fmt.Sprint(i), "pad": "0123456789012345678901234567890123456789"})
			}
		}()
	}
	wg.Wait()
	next := map[string]int{}
	err := s.ReadEvents(EventOptions{}, func(e Event) error {
		if got := e.Actor.Attributes["n"]; got != fmt.Sprint(next[e.Actor.ID]) {
			return fmt.Errorf("%s: event %s after %d", e.Actor.ID, got, next[e.Actor.ID])
		}
		next[e.Actor.ID]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for w := range writers {
		if n := next[fmt.Sprintf("w%d", w)]; n != each {
			t.Errorf("writer %d: read %d of %d events", w, n, each)
		}
	}
}

// TestEventsFollow: following gives events written after it began, and
// ends at --until.
func TestEventsFollow(t *testing.T) {
	s := testStore(t)
	s.Emit("image", "pull", "old", nil)
	start := time.Now()
	go func() {
		time.Sleep(200 * time.Millisecond)
		s.Emit("image", "tag", "new", nil)
	}()
	var got []string
	err := s.ReadEvents(EventOptions{Since: start, Until: start.Add(time.Second), Follow: true}, func(e Event) error {
		got = append(got, e.Action+" "+e.Actor.ID)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != "tag new" {
		t.Errorf("followed %q", got)
	}
	if d := time.Since(start); d < time.Second || d > 3*time.Second {
		t.Errorf("following ended after %s, want at --until", d)
	}
}

func TestEventFilter(t *testing.T) {
	e := Event{Type: "container", Action: "health_status: healthy", Actor: Actor{ID: "abcdef", Attributes: map[string]string{"name": "web", "image": "busybox", "app": "x"}}}
	for _, tc := range []struct {
		f    []string
		want bool
	}{
		{nil, true},
		{[]string{"type=container"}, true},
		{[]string{"type=image"}, false},
		{[]string{"event=health_status"}, true},
		{[]string{"event=start", "event=health_status"}, true},
		{[]string{"container=web"}, true},
		{[]string{"container=abc"}, true},
		{[]string{"container=other"}, false},
		{[]string{"image=busybox", "label=app=x"}, true},
		{[]string{"label=app=y"}, false},
		{[]string{"label=app=x", "label=app=y"}, false}, // labels are ANDed, as docker's
		{[]string{"network=web"}, false},
	} {
		f, err := ParseEventFilters(tc.f)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.Match(e); got != tc.want {
			t.Errorf("%v: %v, want %v", tc.f, got, tc.want)
		}
	}
	if _, err := ParseEventFilters([]string{"colour=red"}); err == nil {
		t.Errorf("a bad key passed")
	}
}

// TestEventsDamagedLog: a torn or foreign line (a killed writer, a
// hostile edit) is skipped, and the events around it still read.
func TestEventsDamagedLog(t *testing.T) {
	s := testStore(t)
	s.Emit("image", "pull", "one", nil)
	f, err := os.OpenFile(s.eventLog(), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("{\"Type\":\"image\",\"Act\n\x00\xff not json\n")
	f.Close()
	s.Emit("image", "pull", "two", nil)
	var got []string
	if err := s.ReadEvents(EventOptions{}, func(e Event) error { got = append(got, e.Actor.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, " ") != "one two" {
		t.Errorf("read %q", got)
	}
}

// TestEventsSinceInALongLog: with a log longer than what ReadEvents
// looks at first, Since still gives exactly the events from then on,
// whether they are all in the log's tail or not.
func TestEventsSinceInALongLog(t *testing.T) {
	s, err := Open(t.TempDir(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	f, err := os.OpenFile(s.eventLog(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2000; i++ { // about 200 KB of events an hour old
		b, _ := json.Marshal(Event{Type: "container", Action: "old", Actor: Actor{ID: strings.Repeat("a", 64)}, TimeNano: old.Add(time.Duration(i) * time.Millisecond).UnixNano()})
		f.Write(append(b, '\n'))
	}
	f.Close()
	mid := old.Add(1500 * time.Millisecond)
	s.Emit("container", "new", "b", nil)
	for _, tc := range []struct {
		since time.Time
		want  int
	}{{time.Now().Add(-time.Minute), 1}, {mid, 501}, {time.Time{}, 2001}} {
		n := 0
		if err := s.ReadEvents(EventOptions{Since: tc.since}, func(Event) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		if n != tc.want {
			t.Errorf("since %v: %d events, want %d", tc.since, n, tc.want)
		}
	}
}
