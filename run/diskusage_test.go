package run

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestDirSize: what system df counts for a directory is what du -sb
// says of it, hard links once.
func TestDirSize(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755)
	os.WriteFile(filepath.Join(dir, "a", "f"), make([]byte, 12345), 0o644)
	os.WriteFile(filepath.Join(dir, "a", "b", "g"), make([]byte, 777), 0o644)
	os.Link(filepath.Join(dir, "a", "f"), filepath.Join(dir, "hard"))
	os.Symlink("a/f", filepath.Join(dir, "soft"))
	out, err := exec.Command("du", "-sb", dir).Output()
	if err != nil {
		t.Skipf("du: %v", err)
	}
	want, _ := strconv.ParseInt(strings.Fields(string(out))[0], 10, 64)
	if got := dirSize(dir); got != want {
		t.Errorf("dirSize %d, du -sb %d", got, want)
	}
}
