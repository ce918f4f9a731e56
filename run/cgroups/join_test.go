package cgroups

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestJoin puts one process in a scratch v2 cgroup, then moves another
// into the cgroups of the first with Join.
func TestJoin(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("making cgroups needs root")
	}
	l, err := Detect("/sys/fs/cgroup")
	if err != nil || l.Unified == "" {
		t.Skipf("no v2 hierarchy: %+v %v", l, err)
	}
	scratch := filepath.Join(l.Unified, "tug-join-test-"+strconv.Itoa(os.Getpid()))
	if err := os.Mkdir(scratch, 0o755); err != nil {
		t.Skipf("cannot make a cgroup: %v", err)
	}
	start := func() *exec.Cmd {
		cmd := exec.Command("sleep", "10")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	target, mover := start(), start()
	defer func() {
		target.Process.Kill()
		mover.Process.Kill()
		target.Wait()
		mover.Wait()
		os.Remove(scratch)
	}()
	if err := os.WriteFile(filepath.Join(scratch, "cgroup.procs"), []byte(strconv.Itoa(target.Process.Pid)), 0); err != nil {
		t.Fatal(err)
	}
	if err := Join(mover.Process.Pid, target.Process.Pid); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile("/proc/" + strconv.Itoa(mover.Process.Pid) + "/cgroup")
	if !strings.Contains(string(got), "0::/"+filepath.Base(scratch)) {
		t.Errorf("not moved into %s:\n%s", scratch, got)
	}
}
