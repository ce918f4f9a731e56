package store

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// TestSeccompFilters: a filter is kept once under its digest, read back
// whole, and a damaged or missing one is an error, never another filter.
func TestSeccompFilters(t *testing.T) {
	s := testStore(t)
	prog := bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7, 8}, 300)
	ref, err := s.PutSeccomp(prog)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := s.PutSeccomp(prog); err != nil || again != ref {
		t.Fatalf("the same filter again: %q, %v; want %q", again, err, ref)
	}
	if other, _ := s.PutSeccomp(prog[:8]); other == ref {
		t.Fatal("two filters share a reference")
	}
	got, err := s.Seccomp(ref)
	if err != nil || !bytes.Equal(got, prog) {
		t.Fatalf("read back %d bytes, %v", len(got), err)
	}
	if err := os.WriteFile(s.seccompPath(ref), prog[8:], 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Seccomp(ref); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("a damaged filter: %v", err)
	}
	if _, err := s.Seccomp(strings.Repeat("0", 64)); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("a missing filter: %v", err)
	}
}
