package store

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"
)

var someImage = v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("0", 64)}

// TestBadRecords: a damaged record or a stray file in containers/ is
// reported with its path and blocks no other container; rm of it by
// its ID works.
func TestBadRecords(t *testing.T) {
	s := testStore(t)
	good, broken := strings.Repeat("a", 64), strings.Repeat("b", 64)
	for i, id := range []string{good, broken} {
		if err := s.CreateContainer(&Container{ID: id, Name: []string{"good", "broken"}[i], Image: someImage}); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(s.ContainerDir(broken), "config.json"), []byte(`{"id": 5`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.root, "containers", "stray"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	all, bad, err := s.ScanContainers()
	if err != nil || len(all) != 1 || all[0].ID != good {
		t.Fatalf("good records: %v, %v (bad: %v)", all, err, bad)
	}
	if len(bad) != 2 {
		t.Fatalf("bad records: %v", bad)
	}
	for _, b := range bad {
		if !errors.Is(b, ErrCorrupt) || !strings.Contains(b.Error(), b.Path) || !strings.Contains(b.Error(), "tug rm -f "+b.ID) {
			t.Errorf("report %q: want its path and the fix", b)
		}
	}
	if _, err := s.LookupContainer("good"); err != nil {
		t.Errorf("a good container is blocked: %v", err)
	}
	if err := s.CreateContainer(&Container{ID: strings.Repeat("c", 64), Name: "new", Image: someImage}); err != nil {
		t.Errorf("create is blocked: %v", err)
	}
	var br *BadRecord
	if _, err := s.LookupContainer(broken[:12]); !errors.As(err, &br) || br.ID != broken {
		t.Errorf("lookup of the broken one: %v", err)
	}
	for _, id := range []string{broken, "stray"} {
		if err := s.RemoveContainer(id); err != nil {
			t.Errorf("remove %s: %v", id, err)
		}
	}
	if _, bad, _ := s.ScanContainers(); len(bad) != 0 {
		t.Errorf("left: %v", bad)
	}
}

// TestInterruptedRemoveAndCreate: what a tug rm or create killed
// half-way leaves (the renamed tree and lock of a removal, a create's
// temp dir) is finished by the next tug that lists or creates.
func TestInterruptedRemoveAndCreate(t *testing.T) {
	s := testStore(t)
	id := strings.Repeat("d", 64)
	if err := s.CreateContainer(&Container{ID: id, Name: "gone", Image: someImage}); err != nil {
		t.Fatal(err)
	}
	l, err := s.LockContainer(id)
	if err != nil {
		t.Fatal(err)
	}
	l.Unlock()
	// what rm leaves when killed right after its rename
	trash := filepath.Join(s.root, "containers", ".rm-"+id)
	if err := os.Rename(s.ContainerDir(id), trash); err != nil {
		t.Fatal(err)
	}
	dead := filepath.Join(s.root, "containers", ".new-123")
	if err := os.MkdirAll(filepath.Join(dead, "upper"), 0o755); err != nil {
		t.Fatal(err)
	}
	if all, err := s.Containers(); err != nil || len(all) != 0 {
		t.Fatalf("containers: %v %v", all, err)
	}
	for _, p := range []string{trash, s.lockFile("container-" + id)} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s left after a listing", p)
		}
	}
	if err := s.CreateContainer(&Container{ID: strings.Repeat("e", 64), Name: "next", Image: someImage}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(dead); err == nil {
		t.Errorf("a dead create's temp dir is left")
	}
}

// TestLookupContainer: an exact name or full ID wins over ID prefixes,
// wherever it comes in the scan; a prefix shared by two IDs is ambiguous.
func TestLookupContainer(t *testing.T) {
	s := testStore(t)
	ida, idb, idd := "c3a"+strings.Repeat("1", 61), "c3b"+strings.Repeat("2", 61), strings.Repeat("d", 64)
	now := time.Now()
	for i, c := range []*Container{
		{ID: ida, Name: "first", Created: now},
		{ID: idb, Name: "second", Created: now.Add(-time.Second)},
		{ID: idd, Name: "c3", Created: now.Add(-time.Hour)}, // scanned last
	} {
		c.Image = someImage
		if err := s.CreateContainer(c); err != nil {
			t.Fatalf("create %d: %v", i, err)
		}
	}
	for _, tc := range []struct {
		ref, want string
		err       error
	}{
		{ref: "c3", want: idd},
		{ref: "c3a", want: ida},
		{ref: idb, want: idb},
		{ref: "second", want: idb},
		{ref: "dd", want: idd},
		{ref: "c", err: ErrAmbiguous},
		{ref: "e", err: ErrNotFound},
		{ref: "nosuch", err: ErrNotFound},
	} {
		c, err := s.LookupContainer(tc.ref)
		switch {
		case tc.err != nil && !errors.Is(err, tc.err):
			t.Errorf("%s: got %v, want %v", tc.ref, err, tc.err)
		case tc.err == nil && (err != nil || c.ID != tc.want):
			t.Errorf("%s: got %v %v, want %s", tc.ref, c, err, tc.want)
		}
	}
}

// TestRecordCache: a process that caches records reads a changed record
// or state anew, gets copies it may change freely, and forgets removed ones.
func TestRecordCache(t *testing.T) {
	s := testStore(t)
	s.CacheRecords()
	id := strings.Repeat("c", 64)
	if err := s.CreateContainer(&Container{ID: id, Name: "one", Image: someImage, Labels: map[string]string{"a": "1"}}); err != nil {
		t.Fatal(err)
	}
	c, err := s.LookupContainer(id)
	if err != nil || c.Name != "one" {
		t.Fatalf("first read: %+v %v", c, err)
	}
	type view struct {
		X int `json:"x"`
	}
	c.Spec = []byte(`{"x": 7}`)
	if err := s.SaveContainer(c); err != nil {
		t.Fatal(err)
	}
	if fresh, _ := s.LookupContainer(id); s.records.Load().records.m[id].v != nil && string(s.records.Load().records.m[id].v.Spec) == string(fresh.Spec) {
		t.Error("a record written just now was cached: a twin of its stamp could follow it")
	}
	time.Sleep(settleTime + 10*time.Millisecond)
	one, _ := s.LookupContainer(id)
	two, _ := s.LookupContainer(id)
	v1, err1 := DecodeSpec[view](one)
	v2, err2 := DecodeSpec[view](two)
	if err1 != nil || err2 != nil || v1.X != 7 || v1 != v2 {
		t.Errorf("a spec decoded twice from one record: %v %v, %v %v", v1, err1, v2, err2)
	}
	c.Labels["a"] = "changed by a caller"
	if again, _ := s.LookupContainer(id); again.Labels["a"] != "1" {
		t.Errorf("a caller's change reached the cache: %v", again.Labels)
	}
	c.Name = "two"
	if err := s.SaveContainer(c); err != nil {
		t.Fatal(err)
	}
	if again, _ := s.LookupContainer(id); again.Name != "two" {
		t.Errorf("after the record changed: %q, want two", again.Name)
	}
	for _, status := range []string{StatusRunning, StatusExited} {
		if err := s.SetState(id, &ContainerState{Status: status}); err != nil {
			t.Fatal(err)
		}
		if st, err := s.State(id); err != nil || st.Status != status {
			t.Errorf("state after SetState(%s): %+v %v", status, st, err)
		}
	}
	if _, _, err := s.ScanContainers(); err != nil || len(s.records.Load().records.m) != 1 {
		t.Fatalf("scan: %v, %d cached", err, len(s.records.Load().records.m))
	}
	if err := s.RemoveContainer(id); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LookupContainer(id); !errors.Is(err, ErrNotFound) {
		t.Errorf("a removed record: %v", err)
	}
	if _, _, err := s.ScanContainers(); err != nil || len(s.records.Load().records.m) != 0 {
		t.Errorf("after a scan, %d records of removed containers are kept", len(s.records.Load().records.m))
	}
}

func TestSettled(t *testing.T) {
	now := time.Now()
	at := func(d time.Duration) fileStamp {
		t := now.Add(-d)
		return fileStamp{ctime: unix.NsecToTimespec(t.UnixNano())}
	}
	for _, tc := range []struct {
		ago  time.Duration
		want bool
	}{{0, false}, {time.Millisecond, false}, {settleTime - time.Millisecond, false}, {settleTime + time.Millisecond, true}, {time.Hour, true}, {-time.Second, false}} {
		if got := settled(at(tc.ago), now); got != tc.want {
			t.Errorf("changed %v ago: settled %v, want %v", tc.ago, got, tc.want)
		}
	}
}

// TestSecondScanCaches: a process's first scan keeps nothing; from its
// second on (inspect of many by short ID: a scan each) it keeps records.
func TestSecondScanCaches(t *testing.T) {
	s := testStore(t)
	if _, _, err := s.ScanContainers(); err != nil || s.records.Load() != nil {
		t.Fatalf("after one scan: cache %v, %v", s.records.Load() != nil, err)
	}
	if _, _, err := s.ScanContainers(); err != nil || s.records.Load() == nil {
		t.Fatalf("after two scans: cache %v, %v", s.records.Load() != nil, err)
	}
}
