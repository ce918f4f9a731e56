package store

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPods: a pod is found by name, ID and unique prefix; a taken or bad
// name is refused; its members are the containers that name it; a temp
// file a killed tug left in pods/ is not a pod; a removed pod is gone.
func TestPods(t *testing.T) {
	s := testStore(t)
	a := &Pod{ID: "ab" + strings.Repeat("1", 62), Name: "web", Created: time.Unix(1, 0), Share: []string{"net", "ipc"}}
	b := &Pod{ID: "ab" + strings.Repeat("2", 62), Name: "db", Created: time.Unix(2, 0)}
	for _, p := range []*Pod{a, b} {
		if err := s.CreatePod(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreatePod(&Pod{ID: strings.Repeat("3", 64), Name: "web"}); !errors.Is(err, ErrNameInUse) {
		t.Errorf("a taken name: %v", err)
	}
	if err := s.CreatePod(&Pod{ID: strings.Repeat("4", 64), Name: "-bad"}); err == nil {
		t.Error("a bad name is accepted")
	}
	if err := os.WriteFile(filepath.Join(s.podsDir(), ".tmp-x.json"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	for ref, want := range map[string]string{"web": a.ID, a.ID: a.ID, "ab2": b.ID, "db": b.ID} {
		p, err := s.LookupPod(ref)
		if err != nil || p.ID != want {
			t.Errorf("LookupPod(%s) = %v, %v; want %s", ref, p, err, want[:12])
		}
	}
	if _, err := s.LookupPod("ab"); !errors.Is(err, ErrAmbiguous) {
		t.Errorf("an ambiguous prefix: %v", err)
	}
	if _, err := s.LookupPod("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a missing pod: %v", err)
	}
	if !a.Shares("ipc") || a.Shares("pid") {
		t.Errorf("Shares: %v", a.Share)
	}
	for i, pod := range []string{a.ID, "", a.ID} {
		c := &Container{ID: strings.Repeat(string(rune('a'+i)), 64), Name: "c" + string(rune('0'+i)), Image: someImage, Pod: pod, Created: time.Unix(int64(10-i), 0)}
		if err := s.CreateContainer(c); err != nil {
			t.Fatal(err)
		}
	}
	members, err := s.PodMembers(a.ID)
	if err != nil || len(members) != 2 || members[0].Name != "c2" || members[1].Name != "c0" {
		t.Errorf("members: %v, %v; want c2, c0", members, err)
	}
	if err := s.RemovePod(a.ID); err != nil {
		t.Fatal(err)
	}
	if pods, err := s.Pods(); err != nil || len(pods) != 1 || pods[0].Name != "db" {
		t.Errorf("pods after rm: %v, %v", pods, err)
	}
	if err := s.RemovePod(a.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("rm twice: %v", err)
	}
}

// TestPodNameBeatsPrefix: a pod named like another's ID prefix is found
// by its name, wherever it stands in the list.
func TestPodNameBeatsPrefix(t *testing.T) {
	s := testStore(t)
	for i, p := range []*Pod{
		{ID: "abc" + strings.Repeat("1", 61), Name: "one", Created: time.Unix(1, 0)},
		{ID: "abc" + strings.Repeat("2", 61), Name: "two", Created: time.Unix(2, 0)},
		{ID: strings.Repeat("3", 64), Name: "abc", Created: time.Unix(3, 0)},
	} {
		if err := s.CreatePod(p); err != nil {
			t.Fatal(i, err)
		}
	}
	if p, err := s.LookupPod("abc"); err != nil || p.Name != "abc" {
		t.Errorf("LookupPod(abc) = %v, %v; want the pod named abc", p, err)
	}
}
