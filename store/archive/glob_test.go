package archive

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// TestGlob: wildcards in any element, sorted, and never out of the root
// through a symlink, absolute or relative.
func TestGlob(t *testing.T) {
	s := newSandbox(t)
	for _, f := range []string{"a/x1.txt", "a/x2.txt", "a/y.go", "b/x3.txt", ".hidden/x4.txt"} {
		os.MkdirAll(filepath.Join(s.root, filepath.Dir(f)), 0o755)
		os.WriteFile(filepath.Join(s.root, f), nil, 0o644)
	}
	os.Symlink(s.outside, filepath.Join(s.root, "abs"))
	os.Symlink("../../outside", filepath.Join(s.root, "rel"))
	root, err := unix.Open(s.root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(root)
	for _, tc := range []struct {
		pattern string
		want    []string
	}{
		{"a/x*.txt", []string{"a/x1.txt", "a/x2.txt"}},
		{"*/x?.txt", []string{".hidden/x4.txt", "a/x1.txt", "a/x2.txt", "b/x3.txt"}},
		{"[ab]/*.go", []string{"a/y.go"}},
		{"a/nothing*", nil},
		{"abs/can*", nil},
		{"rel/can*", nil},
		{"*/can*", nil},
	} {
		got, err := Glob(root, tc.pattern)
		if err != nil {
			t.Errorf("%s: %v", tc.pattern, err)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.pattern, got, tc.want)
		}
	}
	if _, err := Glob(root, "a/[x"); err == nil {
		t.Errorf("a bad pattern gave no error")
	}
}
