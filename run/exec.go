package run

// tug exec runs a command in a running container through a second
// re-exec role, tug-exec, started with
//
//	fd 3  the ExecSpec, as JSON
//	fd 4  the sync pipe, as for tug-init
//	fd 5  a pidfd of the container's pid 1, checked by the parent
//
// Go's runtime is multi-threaded from its first instruction, and the
// kernel lets a thread join a mount namespace only if it shares its
// filesystem context (root, cwd) with no other thread. So the helper
// locks its goroutine to one OS thread, unshares CLONE_FS on it, and
// joins all the container's namespaces at once with setns on the pidfd.
// A pid namespace applies to children only, so the helper then forks the
// command from that same thread (the fork copies the thread's root, cwd
// and namespaces), waits for it, and exits with its code. The helper is
// never in the container's pid namespace, and it is non-dumpable, as is
// its child until it execs: nothing in the container can ptrace them or
// open their /proc/PID/exe. This was chosen over a C constructor that
// would run before the Go runtime: it needs no cgo.

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"

	"tug/internal/userns"
	"tug/run/cgroups"
	"tug/run/child"
	"tug/store"
)

// ExecOptions are exec's flags.
type ExecOptions struct {
	Args        []string
	Env         []string
	Workdir     string
	User        string
	Tty         bool
	Interactive bool
	Detach      bool
	// Privileged runs it with every capability and without seccomp, as
	// docker's exec --privileged (the container's mounts stay as they are)
	Privileged bool
}

// Exec runs a command in a running container and returns its exit code.
func Exec(s *store.Store, c *store.Container, opt ExecOptions, stdio IO) (int, error) {
	cfg, err := ContainerConfig(c)
	if err != nil {
		return 0, err
	}
	h, err := newHelper(s, c, cfg, "exec in")
	if err != nil {
		return 0, err
	}
	defer h.close()
	spec, err := helperSpec(s, cfg, opt)
	if err != nil {
		return 0, err
	}
	spec = h.withTargets(spec)
	if !opt.Interactive {
		stdio.Stdin = nil
	}
	if opt.Detach {
		stdio = IO{}
	}
	cmdline := strings.Join(opt.Args, " ")
	emit(s, c, "exec_create: "+cmdline, nil)
	emit(s, c, "exec_start: "+cmdline, nil)
	wire := func(cmd *exec.Cmd) (*session, error) { return attach(cmd, stdio, spec.Tty, nil, nil) }
	encode := func(consoleFD int) ([]byte, error) {
		spec.ConsoleFD = consoleFD
		return json.Marshal(spec)
	}
	return h.run(wire, encode, true, 0)
}

// ExecStreams runs a command in a running container as Exec does, with
// st for its stdio (the API's exec): each part goes through a pipe,
// which is all the helper's session takes.
func ExecStreams(s *store.Store, c *store.Container, opt ExecOptions, st Streams) (int, error) {
	stdio, wait, err := pipesFor(st)
	if err != nil {
		return 0, err
	}
	code, err := Exec(s, c, opt, stdio)
	wait()
	return code, err
}

// pipesFor is st as pipes: the copies into st's writers are done, and
// the pipes closed, once wait returns.
func pipesFor(st Streams) (stdio IO, wait func(), err error) {
	stdio.Resize = st.Resize
	var closers []*os.File
	var copies sync.WaitGroup
	wait = func() {
		for _, f := range closers {
			f.Close()
		}
		copies.Wait()
	}
	out := func(w io.Writer) (*os.File, error) {
		r, pw, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		closers = append(closers, pw)
		copies.Go(func() {
			io.Copy(w, r)
			r.Close()
		})
		return pw, nil
	}
	if stdio.Stdout, err = out(st.Stdout); err != nil {
		wait()
		return IO{}, nil, err
	}
	if stdio.Stderr, err = out(st.Stderr); err != nil {
		wait()
		return IO{}, nil, err
	}
	if st.Stdin != nil {
		r, w, err := os.Pipe()
		if err != nil {
			wait()
			return IO{}, nil, err
		}
		closers = append(closers, r)
		go func() {
			io.Copy(w, st.Stdin)
			w.Close()
		}()
		stdio.Stdin = r
	}
	return stdio, wait, nil
}

// helperSpec is what the helper runs for opt: the container's env,
// then exec's own -e, and the container's credentials.
func helperSpec(s *store.Store, cfg *Config, opt ExecOptions) (execSpec, error) {
	env, err := environment(v1.Config{Env: cfg.Spec.Env}, Options{Env: opt.Env, Tty: opt.Tty}, cfg.Spec.Hostname, os.LookupEnv)
	if err != nil {
		return execSpec{}, err
	}
	spec := execSpec{
		Args: opt.Args, Env: env, Cwd: cmp.Or(opt.Workdir, cfg.Spec.Cwd, "/"), User: cmp.Or(opt.User, cfg.Spec.User),
		Tty: opt.Tty, Detach: opt.Detach, Caps: cfg.Spec.Caps, NoNewPrivs: cfg.Spec.NoNewPrivs,
		GroupAdd: cfg.Spec.GroupAdd, Rlimits: cfg.Spec.Rlimits,
	}
	if opt.Privileged {
		spec.Caps, _ = capabilities(Security{Privileged: true})
		return spec, nil
	}
	if err := cfg.withSeccomp(s); err != nil {
		return execSpec{}, err
	}
	spec.Seccomp = cfg.Spec.Seccomp
	return spec, nil
}

// helper starts exec helpers in one running container: a pidfd of its
// pid 1, checked to be the container's, and how tug runs as the helper.
// A prober keeps one for all its probes.
type helper struct {
	pid     int
	pidFile *os.File
	path    string
	args    []string
	env     []string
	done    func()
	ns      int      // the namespaces it joins
	cgroups []string // the files it joins the cgroups through
	// enter moves a started helper into the container's scope, when the
	// helper cannot join it itself (nil: it can, or there is none)
	enter func(pid int) error
}

// newHelper is a helper for container c (created with cfg), which must
// be running and not paused; what names the action in errors ("exec in").
func newHelper(s *store.Store, c *store.Container, cfg *Config, what string) (*helper, error) {
	st, err := State(s, c)
	if err != nil {
		return nil, err
	}
	if st.Status != store.StatusRunning {
		return nil, fmt.Errorf("%s %s: %w", what, c.Name, ErrNotRunning)
	}
	if st.Paused {
		return nil, conflict("%s %s: it is paused (tug unpause %s)", what, c.Name, c.Name)
	}
	if !processes(st) {
		return nil, conflict("%s %s: it is a pod's infra container, and no process runs in it", what, c.Name)
	}
	pfd, err := pidfd(st.Pid, st.PidStart, st.BootID)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, c.Name, ErrNotRunning)
	}
	h := &helper{pid: st.Pid, pidFile: os.NewFile(uintptr(pfd), "pidfd"), ns: namespacesToJoin(st.Pid)}
	if os.Geteuid() == 0 && !userns.Inside() {
		h.cgroups, err = cgroups.ThreadFiles(st.Pid)
	} else {
		h.enter, err = scopeEntry(s, c, cfg)
	}
	if err == nil {
		h.path, h.args, h.env, h.done, err = helperCommand(st.Pid)
	}
	if err != nil {
		h.pidFile.Close()
		return nil, fmt.Errorf("%s %s: %w", what, c.Name, err)
	}
	return h, nil
}

// withTargets is spec with the namespaces and cgroups the helper joins.
func (h *helper) withTargets(spec execSpec) execSpec {
	spec.Namespaces, spec.Cgroups = h.ns, h.cgroups
	return spec
}

// namespacesToJoin are the container's namespaces this process (and so
// the helper it starts) is not in already: one it shares with the host
// (--network, --uts, --ipc, --pid host) is left alone, as setns(2) into it
// would need privilege over the host's user namespace, which a rootless
// helper has not.
func namespacesToJoin(pid int) int {
	flags := unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP
	for name, flag := range map[string]int{"uts": unix.CLONE_NEWUTS, "ipc": unix.CLONE_NEWIPC, "net": unix.CLONE_NEWNET, "pid": unix.CLONE_NEWPID} {
		if !sameNamespace(pid, name) {
			flags |= flag
		}
	}
	return flags
}

// sameNamespace tells whether this process is in pid's namespace of the
// kind name (as in /proc/PID/ns); false when either cannot be read.
func sameNamespace(pid int, name string) bool {
	var mine, theirs unix.Stat_t
	return unix.Stat("/proc/self/ns/"+name, &mine) == nil && unix.Stat(fmt.Sprintf("/proc/%d/ns/%s", pid, name), &theirs) == nil &&
		mine.Ino == theirs.Ino && mine.Dev == theirs.Dev
}

// close lets go of the helper's pidfd and binary.
func (h *helper) close() {
	h.done()
	h.pidFile.Close()
}

// run runs the helper once and returns the command's exit code: wire
// gives it its stdio, encode its spec (with the fd of its console, if
// any), forward sends it tug's signals, and past a timeout (if not 0)
// the command is killed.
func (h *helper) run(wire func(*exec.Cmd) (*session, error), encode func(consoleFD int) ([]byte, error), forward bool, timeout time.Duration) (int, error) {
	specR, specW, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer specR.Close()
	defer specW.Close()
	syncR, syncW, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer syncR.Close()
	defer syncW.Close()
	cmd := &exec.Cmd{
		Path:        h.path,
		Args:        h.args,
		Env:         h.env,
		ExtraFiles:  []*os.File{specR, syncW, h.pidFile},
		SysProcAttr: &syscall.SysProcAttr{Pdeathsig: unix.SIGKILL},
		WaitDelay:   time.Second,
	}
	term, err := wire(cmd)
	if err != nil {
		return 0, err
	}
	defer term.close()
	spec, err := encode(term.consoleFD(cmd))
	if err != nil {
		return 0, fmt.Errorf("exec: spec: %w", err)
	}
	// Pdeathsig ties the helper to this thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var sigs chan os.Signal
	if forward {
		sigs = make(chan os.Signal, 8)
		signal.Notify(sigs, child.Forwarded()...)
		defer signal.Stop(sigs)
	}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("exec: %w", err)
	}
	specR.Close()
	syncW.Close()
	term.started()
	if h.enter != nil {
		// the helper waits for its spec, so what it starts is born in
		// the scope
		if err := h.enter(cmd.Process.Pid); err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			return 0, fmt.Errorf("exec: %w", err)
		}
	}
	if _, err := specW.Write(spec); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return 0, fmt.Errorf("exec: send spec: %w", err)
	}
	specW.Close()
	if err := term.takeConsole(); err != nil {
		err = childFailed(syncR, err)
		cmd.Wait()
		return 0, err
	}
	if err := child.ReadStatus(syncR); err != nil {
		cmd.Wait()
		return 0, err
	}
	if timeout > 0 {
		// the helper kills the probe's group on a SIGTERM; a helper
		// that does not is killed itself a second later
		t := time.AfterFunc(timeout, func() {
			cmd.Process.Signal(unix.SIGTERM)
			time.AfterFunc(time.Second, func() { cmd.Process.Kill() })
		})
		defer t.Stop()
	}
	p := &process{cmd: cmd, term: term}
	return p.wait(sigs), nil
}

// helperCommand is how the exec helper is started. As root of the
// container's user namespace: tug itself, through its read-only bind
// mount (protectedSelf). Otherwise (rootless tug runs as the user,
// outside any user namespace, and a --userns keep-id container has one
// of its own, nested in tug's) a multi-threaded Go process cannot join
// it, and the helper is started through nsenter, which joins the
// container's user namespace single-threaded, becomes its root, and
// execs tug as the helper. nsenter cannot set argv[0], so child.RoleArgEnv
// tells tug that its role is its first argument. The helper is
// non-dumpable and never in the container's pid namespace, so nothing
// in the container can reach the binary through it.
func helperCommand(pid int) (path string, args, env []string, done func(), err error) {
	env = []string{"GOMAXPROCS=1"}
	if os.Geteuid() == 0 && sameNamespace(pid, "user") {
		exe, err := protectedSelf()
		if err != nil {
			return "", nil, nil, nil, err
		}
		return fmt.Sprintf("/proc/self/fd/%d", exe.Fd()), []string{child.ExecRole, fmt.Sprint(pid)}, env, func() { exe.Close() }, nil
	}
	nsenter, err := exec.LookPath("nsenter")
	if err != nil {
		return "", nil, nil, nil, fmt.Errorf("rootless exec needs nsenter (util-linux): %w", err)
	}
	self, err := os.Executable()
	if err != nil {
		return "", nil, nil, nil, err
	}
	args = []string{"nsenter", fmt.Sprintf("--user=/proc/%d/ns/user", pid), "--", self, child.ExecRole, fmt.Sprint(pid)}
	return nsenter, args, append(env, child.RoleArgEnv+"=1"), func() {}, nil
}
