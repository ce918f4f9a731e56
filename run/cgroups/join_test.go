package cgroups

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestJoinThread puts a process in a scratch v1 pids cgroup, then moves
// one thread of this test into that process's cgroups with ThreadFiles
// and JoinFiles.
func TestJoinThread(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("making cgroups needs root")
	}
	l, err := Detect("/sys/fs/cgroup")
	if err != nil || l.Version == "v2" {
		t.Skipf("no v1 hierarchies here: %+v %v", l, err)
	}
	scratch := filepath.Join(l.Mount, "pids", "tug-join-test-"+strconv.Itoa(os.Getpid()))
	if err := os.Mkdir(scratch, 0o755); err != nil {
		t.Skipf("cannot make a cgroup: %v", err)
	}
	target := exec.Command("sleep", "10")
	if err := target.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		target.Process.Kill()
		target.Wait()
		os.Remove(scratch)
	}()
	if err := os.WriteFile(filepath.Join(scratch, "cgroup.procs"), []byte(strconv.Itoa(target.Process.Pid)), 0); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	others := make(chan []string, 1)
	go func() {
		// never unlocked: the thread leaves with the goroutine
		runtime.LockOSThread()
		files, err := ThreadFiles(target.Process.Pid)
		if err == nil {
			err = JoinFiles(files)
		}
		if err != nil {
			got <- err.Error()
			others <- nil
			return
		}
		b, _ := os.ReadFile("/proc/thread-self/cgroup")
		got <- string(b)
		// which of this process's other threads are in the cgroup too
		self := strconv.Itoa(unix.Gettid())
		tasks, _ := os.ReadFile(filepath.Join(scratch, "tasks"))
		in := map[string]bool{}
		for _, tid := range strings.Fields(string(tasks)) {
			in[tid] = true
		}
		var moved []string
		threads, _ := os.ReadDir("/proc/self/task")
		for _, th := range threads {
			if th.Name() != self && in[th.Name()] {
				moved = append(moved, th.Name())
			}
		}
		others <- moved
		os.WriteFile(filepath.Join(l.Mount, "pids", "tasks"), []byte("0"), 0) // back out, so the scratch cgroup can go
	}()
	if s := <-got; !strings.Contains(s, "pids:/"+filepath.Base(scratch)) {
		t.Errorf("thread not moved into %s:\n%s", scratch, s)
	}
	if moved := <-others; len(moved) > 0 {
		t.Errorf("other threads of the process moved too: %v", moved)
	}
}
