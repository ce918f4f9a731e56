package cgroups

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestDeviceFilter attaches a device filter that allows only /dev/null
// to a scratch v2 cgroup (on this host's unified tree) and runs
// processes cloned straight into it.
func TestDeviceFilter(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("BPF and cgroups need root")
	}
	l, err := Detect("/sys/fs/cgroup")
	if err != nil || l.Unified == "" {
		t.Skipf("no v2 tree: %v", err)
	}
	dir := filepath.Join(l.Unified, "tug-dev-test-"+strconv.Itoa(os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skipf("cannot make a cgroup: %v", err)
	}
	defer os.Remove(dir)
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := attachDevices(fd, []DeviceRule{{Type: 'c', Major: 1, Minor: 3, Access: "rw"}}); err != nil {
		t.Fatal(err)
	}
	run := func(script string) (string, error) {
		cmd := exec.Command("sh", "-c", script)
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run("echo x > /dev/null && head -c 0 /dev/null && echo ok"); err != nil || !strings.Contains(out, "ok") {
		t.Errorf("/dev/null refused: %v %s", err, out)
	}
	if out, err := run("head -c 1 /dev/zero"); err == nil || !strings.Contains(out, "Operation not permitted") {
		t.Errorf("/dev/zero allowed: %v %q", err, out)
	}
	if out, err := run("mknod " + t.TempDir() + "/n c 1 3"); err == nil {
		t.Errorf("mknod allowed without m: %q", out)
	}
}

func TestDeviceProgramAll(t *testing.T) {
	insts, err := deviceProgram([]DeviceRule{{Type: 'a', Major: -1, Minor: -1, Access: "rwm"}})
	if err != nil || len(insts) == 0 {
		t.Fatal(insts, err)
	}
	if _, err := deviceProgram([]DeviceRule{{Type: 'x'}}); err == nil {
		t.Error("bad type accepted")
	}
}
