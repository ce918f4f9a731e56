package run

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestProtectedSelfRefusesWrites: every path the child's exe can be
// reached by refuses writes, even when the binary is not running.
func TestProtectedSelfRefusesWrites(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("open_tree needs root")
	}
	// a copy of a binary that is not running, so that only the mount
	// can refuse the write, not ETXTBSY
	dir := t.TempDir()
	bin := filepath.Join(dir, "true")
	b, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(bin, b, 0o755)
	ro, err := readOnlyMount(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	p := fmt.Sprintf("/proc/self/fd/%d", ro.Fd())
	if _, err := os.OpenFile(p, os.O_WRONLY, 0); !errors.Is(err, unix.EROFS) {
		t.Errorf("write open through the read-only mount: %v, want EROFS", err)
	}
	if err := os.Chmod(p, 0o777); !errors.Is(err, unix.EROFS) {
		t.Errorf("chmod through the read-only mount: %v, want EROFS", err)
	}
	if out, err := exec.Command(p).CombinedOutput(); err != nil {
		t.Errorf("exec through the read-only mount: %v %s", err, out)
	}
	if b, _ := os.ReadFile(bin); len(b) == 0 {
		t.Errorf("binary damaged")
	}
}
