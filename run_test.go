package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// tugCmd runs the built tug against a fresh store that pulls from the
// shared registry.
func tugCmd(t *testing.T, env *e2e, args ...string) *exec.Cmd {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("[storage]\nroot = %q\nrunroot = %q\n[registries.mirrors]\n\"docker.io\" = [%q]\n",
		filepath.Join(dir, "store"), filepath.Join(dir, "run"), env.registry)), 0o644)
	cmd := exec.Command(filepath.Join(env.bin, "tug"), args...)
	cmd.Env = append(os.Environ(), "TUG_CONFIG="+cfg)
	return cmd
}

// expect reads from r until want shows up, or fails after 10 seconds.
func expect(t *testing.T, r io.Reader, want string) string {
	t.Helper()
	got := make(chan string, 1)
	go func() {
		var seen bytes.Buffer
		buf := make([]byte, 1024)
		for {
			n, err := r.Read(buf)
			seen.Write(buf[:n])
			if strings.Contains(seen.String(), want) || err != nil {
				got <- seen.String()
				return
			}
		}
	}()
	select {
	case s := <-got:
		if !strings.Contains(s, want) {
			t.Fatalf("want %q, got %q", want, s)
		}
		return s
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %q", want)
		return ""
	}
}

// expectSize asks the shell on master for its terminal's size until it
// answers want, for up to 10 s: a resize travels by signal and then by
// a request, so how soon it lands depends on the machine's load. A pty
// master takes no read deadline, so one goroutine reads it from here
// on, and passes what it reads until expectSize returns.
func expectSize(t *testing.T, master *os.File, want string) {
	t.Helper()
	chunks, done := make(chan []byte), make(chan struct{})
	defer close(done)
	go func() {
		for {
			buf := make([]byte, 1024)
			n, err := master.Read(buf)
			select {
			case chunks <- buf[:n]:
			case <-done:
			}
			if err != nil {
				return
			}
		}
	}()
	var seen bytes.Buffer
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); {
		io.WriteString(master, "stty size\r")
		for ask := time.After(500 * time.Millisecond); ; {
			select {
			case b := <-chunks:
				seen.Write(b)
				if strings.Contains(seen.String(), want) {
					return
				}
				continue
			case <-ask:
			}
			break
		}
	}
	t.Fatalf("terminal size never became %q: %q", want, seen.String())
}

// TestInteractiveShell drives `tug run -it busybox sh` from a pty as a
// user at a terminal would: a command, a window resize, exit 3. The
// container's terminal is a pty of its own devpts (tty says /dev/pts/0,
// as under docker, and /dev/console is the same pty), sized like the
// user's from the first instruction, and nothing precedes its output.
// With --init too, and with no detach keys, where tug itself keeps the
// container rather than its monitor (TestDetach).
func TestInteractiveShell(t *testing.T) {
	for _, args := range [][]string{
		{"run", "-it", "--rm", "busybox", "sh"}, {"run", "-it", "--rm", "--init", "busybox", "sh"},
		{"run", "-it", "--rm", "--detach-keys", "", "busybox", "sh"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) { interactiveShell(t, args) })
	}
}

func interactiveShell(t *testing.T, args []string) {
	env := needE2E(t)
	if out, err := tugCmd(t, env, "pull", "-q", "busybox").CombinedOutput(); err != nil {
		t.Fatalf("pull: %v\n%s", err, out)
	}
	master, slave, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	pty.Setsize(master, &pty.Winsize{Rows: 24, Cols: 80})
	before, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	cmd := tugCmd(t, env, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if first := expect(t, master, "# "); strings.ContainsRune(first, 0) {
		t.Errorf("a NUL byte before the shell's first output: %q", first)
	}
	io.WriteString(master, "echo sum=$((40+2)); tty; ls /dev/pts; stty size; ls -lL /dev/console; echo END-$((1+1))\r")
	got := expect(t, master, "END-2")
	for _, want := range []string{"sum=42", "\n/dev/pts/0\r\n", "\n0 ", "ptmx\r\n", "\n24 80\r\n", " 136,   0 "} {
		if !strings.Contains(got, want) {
			t.Errorf("want %q in %q", want, got)
		}
	}
	pty.Setsize(master, &pty.Winsize{Rows: 50, Cols: 132})
	expectSize(t, master, "50 132") // SIGWINCH reaches tug, which resizes the container's pty
	io.WriteString(master, "exit 3\r")
	err = cmd.Wait()
	if cmd.ProcessState.ExitCode() != 3 {
		t.Errorf("exit code %d (%v), want 3", cmd.ProcessState.ExitCode(), err)
	}
	after, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if *before != *after {
		t.Errorf("terminal not restored: %+v, was %+v", after, before)
	}
}

// TestDetach: ctrl-p ctrl-q (or --detach-keys) leaves `tug run -it` and
// `tug start -ai` with exit code 0 and the container running, as in
// docker; tug attach comes back to it, and its exit code is attach's.
// Typed as a user would, on a terminal of the test's.
func TestDetach(t *testing.T) {
	se := newStoreEnv(t, needE2E(t))
	session := func(args []string, steps func(master *os.File)) *exec.Cmd {
		master, slave, err := pty.Open()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { master.Close(); slave.Close() })
		cmd := se.tug(args...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		steps(master)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("%v did not end", args)
		}
		return cmd
	}
	running := func(name string) string {
		out, _ := se.tug("inspect", "-f", "{{.State.Status}}", name).Output()
		return strings.TrimSpace(string(out))
	}
	cmd := session([]string{"run", "-it", "--name", "dk", "busybox", "sh"}, func(m *os.File) {
		expect(t, m, "# ")
		io.WriteString(m, "echo one-$((0+1))\r")
		expect(t, m, "one-1")
		io.WriteString(m, "\x10\x11")
	})
	if code := cmd.ProcessState.ExitCode(); code != 0 || running("dk") != "running" {
		t.Fatalf("after ctrl-p ctrl-q: exit %d, container %s", code, running("dk"))
	}
	cmd = session([]string{"attach", "--detach-keys", "ctrl-a,d", "dk"}, func(m *os.File) {
		io.WriteString(m, "echo two-$((1+1))\r")
		expect(t, m, "two-2")
		io.WriteString(m, "\x01d")
	})
	if code := cmd.ProcessState.ExitCode(); code != 0 || running("dk") != "running" {
		t.Fatalf("after attach's ctrl-a d: exit %d, container %s", code, running("dk"))
	}
	cmd = session([]string{"attach", "dk"}, func(m *os.File) {
		io.WriteString(m, "exit 4\r")
	})
	if code := cmd.ProcessState.ExitCode(); code != 4 {
		t.Errorf("attach to the end: exit %d, want the container's 4", code)
	}
	cmd = session([]string{"run", "-it", "--rm", "--detach-keys", "ctrl-x,x", "--name", "dk2", "busybox", "sh"}, func(m *os.File) {
		expect(t, m, "# ")
		io.WriteString(m, "\x18x")
	})
	if code := cmd.ProcessState.ExitCode(); code != 0 || running("dk2") != "running" {
		t.Fatalf("after --detach-keys ctrl-x,x: exit %d, container %s", code, running("dk2"))
	}
	if out, err := se.tug("create", "-it", "--name", "dk3", "busybox", "sh").CombinedOutput(); err != nil {
		t.Fatalf("create: %v\n%s", err, out)
	}
	cmd = session([]string{"start", "-ai", "dk3"}, func(m *os.File) {
		expect(t, m, "# ")
		io.WriteString(m, "\x10\x11")
	})
	if code := cmd.ProcessState.ExitCode(); code != 0 || running("dk3") != "running" {
		t.Fatalf("start -ai, then ctrl-p ctrl-q: exit %d, container %s", code, running("dk3"))
	}
	if out, err := se.tug("rm", "-f", "dk", "dk2", "dk3").CombinedOutput(); err != nil {
		t.Fatalf("rm: %v\n%s", err, out)
	}
}

// TestSignalsReachContainer: signals sent to a foreground tug reach the
// container's process, with and without --init.
func TestSignalsReachContainer(t *testing.T) {
	env := needE2E(t)
	for _, extra := range [][]string{nil, {"--init"}} {
		for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1, syscall.SIGHUP} {
			t.Run(fmt.Sprintf("%v%v", extra, sig), func(t *testing.T) {
				name := strings.TrimPrefix(unix.SignalName(sig), "SIG")
				script := fmt.Sprintf(`trap "echo got-%s; exit 7" %s; echo ready; while :; do sleep 0.05; done`, name, name)
				args := append(append([]string{"run", "--rm"}, extra...), "busybox", "sh", "-c", script)
				cmd := tugCmd(t, env, args...)
				out, _ := cmd.StdoutPipe()
				cmd.Stderr = os.Stderr
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				r := bufio.NewReader(out)
				expect(t, r, "ready")
				cmd.Process.Signal(sig)
				expect(t, r, "got-"+name)
				cmd.Wait()
				if code := cmd.ProcessState.ExitCode(); code != 7 {
					t.Errorf("exit code %d, want 7", code)
				}
			})
		}
	}
}

// TestInitReapsZombies: with --init, orphans are reaped; without, pid 1
// is the entrypoint itself.
func TestInitReapsZombies(t *testing.T) {
	env := needE2E(t)
	// sh forks a child that forks a grandchild and exits: the grandchild
	// is reparented to pid 1, which must reap it when it exits.
	script := `(sleep 0.2 & exit 0); sleep 0.6; ps -o stat,comm | grep -c '^Z' || true`
	out, err := tugCmd(t, env, "run", "--rm", "--init", "busybox", "sh", "-c", script).Output()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if strings.TrimSpace(string(out)) != "0" {
		t.Errorf("zombies left under --init: %q", out)
	}
}

// storeEnv is a tug command factory on one shared store.
type storeEnv struct {
	t    *testing.T
	env  *e2e
	root string
	cfg  string
}

func newStoreEnv(t *testing.T, env *e2e) *storeEnv {
	dir := t.TempDir()
	se := &storeEnv{t: t, env: env, root: filepath.Join(dir, "store"), cfg: filepath.Join(dir, "config.toml")}
	os.WriteFile(se.cfg, []byte(fmt.Sprintf("[storage]\nroot = %q\nrunroot = %q\n[registries.mirrors]\n\"docker.io\" = [%q]\n",
		se.root, filepath.Join(dir, "run"), env.registry)), 0o644)
	t.Cleanup(func() { removeAll(env.bin, se.cfg) })
	if out, err := se.tug("pull", "-q", "busybox").CombinedOutput(); err != nil {
		t.Fatalf("pull: %v\n%s", err, out)
	}
	return se
}

func (se *storeEnv) tug(args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(se.env.bin, "tug"), args...)
	cmd.Env = append(os.Environ(), "TUG_CONFIG="+se.cfg)
	return cmd
}

// leftovers lists what of this store outlives its containers: mounts,
// processes (monitors, init children) and container dirs.
func (se *storeEnv) leftovers() []string {
	var out []string
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(mi), "\n") {
		if strings.Contains(line, se.root) {
			out = append(out, "mount: "+line)
		}
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, _ := os.ReadFile(p)
		if strings.Contains(string(b), se.root) {
			out = append(out, "process: "+strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	dirs, _ := os.ReadDir(filepath.Join(se.root, "containers"))
	for _, d := range dirs {
		out = append(out, "dir: "+d.Name())
	}
	return out
}

// checkStates parses every state.json of the store; a half-written one
// fails the test.
func (se *storeEnv) checkStates() int {
	files, _ := filepath.Glob(filepath.Join(se.root, "containers", "*", "state.json"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // removed meanwhile
		}
		var v map[string]any
		if err := json.Unmarshal(b, &v); err != nil {
			se.t.Errorf("corrupt state %s: %v: %q", f, err, b)
		}
	}
	return len(files)
}

// TestManyDetached starts 20 detached containers at once, then removes
// them all at once.
func TestManyDetached(t *testing.T) {
	se := newStoreEnv(t, needE2E(t))
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if out, err := se.tug("run", "-d", "--name", fmt.Sprintf("c%d", i), "busybox", "sleep", "1000").CombinedOutput(); err != nil {
				t.Errorf("run -d c%d: %v\n%s", i, err, out)
			}
		}()
	}
	wg.Wait()
	out, err := se.tug("ps", "-q").Output()
	if n := len(strings.Fields(string(out))); err != nil || n != 20 {
		t.Fatalf("ps shows %d running containers (%v), want 20", n, err)
	}
	args := []string{"rm", "-f"}
	for i := 0; i < 20; i++ {
		args = append(args, fmt.Sprintf("c%d", i))
	}
	if out, err := se.tug(args...).CombinedOutput(); err != nil {
		t.Fatalf("rm -f: %v\n%s", err, out)
	}
	if left := se.leftovers(); len(left) > 0 {
		t.Errorf("left behind:\n%s", strings.Join(left, "\n"))
	}
}

// TestStress runs 8 loops of run -d, exec, stop and rm on one store at
// once (60 s, or TUG_STRESS_SECONDS), with ps and a state checker running
// alongside: no command may fail, no state file may ever be seen half
// written, and nothing may be left behind.
func TestStress(t *testing.T) {
	se := newStoreEnv(t, needE2E(t))
	secs := 60
	if v := os.Getenv("TUG_STRESS_SECONDS"); v != "" {
		fmt.Sscan(v, &secs)
	}
	deadline := time.Now().Add(time.Duration(secs) * time.Second)
	var wg sync.WaitGroup
	var cycles atomic.Int32
	step := func(args ...string) bool {
		if out, err := se.tug(args...).CombinedOutput(); err != nil {
			t.Errorf("tug %s: %v\n%s", strings.Join(args, " "), err, out)
			return false
		}
		return true
	}
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				name := fmt.Sprintf("w%d-%d", w, i)
				ok := step("run", "-d", "--name", name, "busybox", "sh", "-c", `trap "exit 0" TERM; while :; do sleep 0.05; done`) &&
					step("exec", name, "true") && step("stop", "-t", "5", name) && step("rm", name)
				if !ok {
					se.tug("rm", "-f", name).Run()
					return
				}
				cycles.Add(1)
			}
		}()
	}
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
				se.checkStates()
				se.tug("ps", "-a").Run()
			}
		}
	}()
	wg.Wait()
	close(stop)
	t.Logf("%d run/exec/stop/rm cycles in %d s", cycles.Load(), secs)
	if cycles.Load() == 0 {
		t.Error("no cycle completed")
	}
	if left := se.leftovers(); len(left) > 0 {
		t.Errorf("left behind:\n%s", strings.Join(left, "\n"))
	}
}

// TestStopEscalates: a pid 1 that ignores SIGTERM (sleep installs no
// handler, and pid 1 gets no default ones) is killed after the timeout.
func TestStopEscalates(t *testing.T) {
	se := newStoreEnv(t, needE2E(t))
	if out, err := se.tug("run", "-d", "--name", "stubborn", "busybox", "sleep", "1000").CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	start := time.Now()
	if out, err := se.tug("stop", "-t", "1", "stubborn").CombinedOutput(); err != nil {
		t.Fatalf("stop: %v\n%s", err, out)
	}
	if took := time.Since(start); took < time.Second || took > 2*time.Second {
		t.Errorf("stop -t 1 took %v, want between 1 s and 2 s", took)
	}
	out, _ := se.tug("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", "stubborn").Output()
	if strings.TrimSpace(string(out)) != "exited 137" {
		t.Errorf("after stop: %q, want exited 137", out)
	}
}

// TestMonitorKilled: kill -9 of a monitor takes its container along; ps
// -a then shows it exited, never running, and rm -f cleans everything.
func TestMonitorKilled(t *testing.T) {
	se := newStoreEnv(t, needE2E(t))
	out, err := se.tug("run", "-d", "--name", "orphan", "busybox", "sleep", "1000").Output()
	if err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSpace(string(out))
	b, err := os.ReadFile(filepath.Join(se.root, "containers", id, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Pid        int `json:"pid"`
		MonitorPid int `json:"monitor_pid"`
	}
	json.Unmarshal(b, &st)
	if err := syscall.Kill(st.MonitorPid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	out, _ = se.tug("ps", "-a", "--format", "{{.Names}} {{.State}} {{.Status}}").Output()
	if !strings.HasPrefix(string(out), "orphan exited Exited (137)") {
		t.Errorf("ps -a after kill -9 of the monitor: %q", out)
	}
	if err := syscall.Kill(st.Pid, 0); err == nil {
		if stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", st.Pid)); !strings.Contains(string(stat), ") Z") {
			t.Errorf("the container's process %d outlived its monitor", st.Pid)
		}
	}
	if out, err := se.tug("rm", "-f", "orphan").CombinedOutput(); err != nil {
		t.Fatalf("rm -f: %v\n%s", err, out)
	}
	if left := se.leftovers(); len(left) > 0 {
		t.Errorf("left behind:\n%s", strings.Join(left, "\n"))
	}
}

// TestParallelAddresses: 10 parallel run -d on the bridge get distinct
// addresses, and rm -f, even after kill -9 of their monitors, leaves no
// veth and no lease.
func TestParallelAddresses(t *testing.T) {
	se := newStoreEnv(t, needE2E(t))
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if out, err := se.tug("run", "-d", "--name", fmt.Sprintf("p%d", i), "busybox", "sleep", "1000").CombinedOutput(); err != nil {
				t.Errorf("run -d p%d: %v\n%s", i, err, out)
			}
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	var ids []string
	for i := 0; i < 10; i++ {
		out, err := se.tug("inspect", "--format", "{{.Id}} {{.NetworkSettings.IPAddress}}", fmt.Sprintf("p%d", i)).Output()
		f := strings.Fields(string(out))
		if err != nil || len(f) != 2 {
			t.Fatalf("inspect p%d: %q %v", i, out, err)
		}
		if seen[f[1]] {
			t.Errorf("address %s given twice", f[1])
		}
		seen[f[1]] = true
		ids = append(ids, f[0])
	}
	// kill -9 half of the monitors, then rm -f everything
	for _, id := range ids[:5] {
		b, _ := os.ReadFile(filepath.Join(se.root, "containers", id, "state.json"))
		var st struct {
			MonitorPid int `json:"monitor_pid"`
		}
		json.Unmarshal(b, &st)
		syscall.Kill(st.MonitorPid, syscall.SIGKILL)
	}
	if out, err := se.tug(append([]string{"rm", "-f"}, ids...)...).CombinedOutput(); err != nil {
		t.Fatalf("rm -f: %v\n%s", err, out)
	}
	time.Sleep(200 * time.Millisecond) // the kernel deletes a dead namespace's veth asynchronously
	for _, id := range ids {
		if _, err := os.Stat(filepath.Join("/sys/class/net", "vt"+id[:12])); err == nil {
			t.Errorf("veth of %s left", id[:12])
		}
		leases, _ := filepath.Glob("/run/tug-net/tug0/leases/*")
		for _, l := range leases {
			if b, _ := os.ReadFile(l); string(b) == id {
				t.Errorf("lease %s of %s left", filepath.Base(l), id[:12])
			}
		}
	}
	if left := se.leftovers(); len(left) > 0 {
		t.Errorf("left behind:\n%s", strings.Join(left, "\n"))
	}
}

// TestUserNetworkKilled: after kill -9 of the monitor of a container on
// a user network with a published port, and connected to a second one,
// rm -f and network rm leave no veth, lease, nft rule or bridge.
func TestUserNetworkKilled(t *testing.T) {
	se := newStoreEnv(t, needE2E(t))
	if out, err := se.tug("network", "create", "--subnet", "10.89.240.0/24", "killnet").CombinedOutput(); err != nil {
		t.Fatalf("network create: %v\n%s", err, out)
	}
	out, err := se.tug("run", "-d", "--network", "killnet", "-p", "127.0.0.1:18777:80", "busybox", "httpd", "-f", "-p", "80").Output()
	if err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSpace(string(out))
	for _, args := range [][]string{{"network", "create", "--subnet", "10.89.241.0/24", "killnet2"}, {"network", "connect", "killnet2", id}} {
		if out, err := se.tug(args...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", args, err, out)
		}
	}
	out, _ = se.tug("network", "inspect", "--format", "{{.Bridge}}", "killnet", "killnet2").Output()
	bridges := strings.Fields(string(out))
	if len(bridges) != 2 {
		t.Fatalf("bridges: %q", out)
	}
	bridge := bridges[0]
	links, _ := filepath.Glob("/sys/class/net/" + bridges[1] + "/brif/*")
	if len(links) != 1 {
		t.Fatalf("veths on %s: %v", bridges[1], links)
	}
	rules := func() string {
		out, _ := exec.Command("nft", "list", "table", "ip", "tug").Output()
		return string(out)
	}
	if !strings.Contains(rules(), "dnat to 10.89.240.") || !strings.Contains(rules(), bridge) {
		t.Fatalf("no rules for %s and its port:\n%s", bridge, rules())
	}
	if _, err := os.Stat(filepath.Join("/run/tug-net", bridge, "leases")); err != nil {
		t.Fatalf("no leases of %s: %v", bridge, err)
	}
	if local, peer, err := dialEnds("127.0.0.1:18777"); local != "10.89.240.1" || peer != "127.0.0.1:18777" {
		t.Fatalf("connect to the published port: from %q to %q, %v; want it redirected from the gateway, the peer shown as dialled", local, peer, err)
	}
	b, _ := os.ReadFile(filepath.Join(se.root, "containers", id, "state.json"))
	var st struct {
		MonitorPid int `json:"monitor_pid"`
	}
	json.Unmarshal(b, &st)
	if err := syscall.Kill(st.MonitorPid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"rm", "-f", id}, {"network", "rm", "killnet", "killnet2"}} {
		if out, err := se.tug(args...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", args, err, out)
		}
	}
	time.Sleep(200 * time.Millisecond) // the kernel deletes a dead namespace's veth asynchronously
	for _, link := range append([]string{"vt" + id[:12], filepath.Base(links[0])}, bridges...) {
		if _, err := os.Stat(filepath.Join("/sys/class/net", link)); err == nil {
			t.Errorf("link %s left", link)
		}
	}
	if _, _, err := dialEnds("127.0.0.1:18777"); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("connect to the unpublished port: %v; want refused (no redirect left)", err)
	}
	if r := rules(); strings.Contains(r, "10.89.24") || strings.Contains(r, bridges[0]) || strings.Contains(r, bridges[1]) {
		t.Errorf("rules left:\n%s", r)
	}
	for _, b := range bridges {
		if _, err := os.Stat(filepath.Join("/run/tug-net", b)); err == nil {
			t.Errorf("/run/tug-net/%s left", b)
		}
	}
	if left := se.leftovers(); len(left) > 0 {
		t.Errorf("left behind:\n%s", strings.Join(left, "\n"))
	}
}

// TestPruneAsks: on a terminal, a prune without -f asks, and removes
// only on yes.
func TestPruneAsks(t *testing.T) {
	se := newStoreEnv(t, needE2E(t))
	if out, err := se.tug("volume", "create", "asked").CombinedOutput(); err != nil {
		t.Fatalf("volume create: %v\n%s", err, out)
	}
	for _, answer := range []string{"n", "y"} {
		master, slave, err := pty.Open()
		if err != nil {
			t.Fatal(err)
		}
		cmd := se.tug("volume", "prune", "-a")
		cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		expect(t, master, "[y/N] ")
		io.WriteString(master, answer+"\r")
		err = cmd.Wait()
		master.Close()
		slave.Close()
		out, _ := se.tug("volume", "ls", "-q").Output()
		kept := strings.Contains(string(out), "asked")
		if kept != (answer == "n") {
			t.Errorf("answer %s: volume kept %v (prune: %v)", answer, kept, err)
		}
	}
}
