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
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"

	"tug/internal/userns"
	"tug/run/cgroups"
	"tug/store"
)

// ExecRole is the argv[0] that makes tug's main run ExecHelper.
const ExecRole = "tug-exec"

// ExecOptions are exec's flags.
type ExecOptions struct {
	Args        []string
	Env         []string
	Workdir     string
	User        string
	Tty         bool
	Interactive bool
	Detach      bool
}

// Exec runs a command in a running container and returns its exit code.
func Exec(s *store.Store, c *store.Container, opt ExecOptions, stdio IO) (int, error) {
	cfg, err := ContainerConfig(c)
	if err != nil {
		return 0, err
	}
	st, err := State(s, c)
	if err != nil {
		return 0, err
	}
	if st.Status != store.StatusRunning {
		return 0, fmt.Errorf("exec in %s: %w", c.Name, ErrNotRunning)
	}
	if st.Paused {
		return 0, conflict("exec in %s: it is paused (tug unpause %s)", c.Name, c.Name)
	}
	pfd, err := pidfd(st.Pid, st.PidStart, st.BootID)
	if err != nil {
		return 0, fmt.Errorf("exec in %s: %w", c.Name, ErrNotRunning)
	}
	pidFile := os.NewFile(uintptr(pfd), "pidfd")
	defer pidFile.Close()
	// the container's env is the base, then exec's own -e
	env, err := environment(v1.Config{Env: cfg.Spec.Env}, Options{Env: opt.Env, Tty: opt.Tty}, cfg.Spec.Hostname, os.LookupEnv)
	if err != nil {
		return 0, err
	}
	spec := execSpec{
		Args: opt.Args, Env: env, Cwd: firstNonEmpty(opt.Workdir, cfg.Spec.Cwd, "/"), User: firstNonEmpty(opt.User, cfg.Spec.User),
		Tty: opt.Tty, Detach: opt.Detach, Caps: cfg.Spec.Caps, NoNewPrivs: cfg.Spec.NoNewPrivs, Seccomp: cfg.Spec.Seccomp,
	}
	if !opt.Interactive {
		stdio.Stdin = nil
	}
	if opt.Detach {
		stdio = IO{}
	}
	return runHelper(spec, st.Pid, pidFile, stdio)
}

func runHelper(spec execSpec, pid int, pidFile *os.File, stdio IO) (int, error) {
	path, args, env, done, err := helperCommand(pid)
	if err != nil {
		return 0, err
	}
	defer done()
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
		Path:        path,
		Args:        args,
		Env:         env,
		ExtraFiles:  []*os.File{specR, syncW, pidFile},
		SysProcAttr: &syscall.SysProcAttr{Pdeathsig: unix.SIGKILL},
		WaitDelay:   time.Second,
	}
	term, err := attach(cmd, stdio, spec.Tty, nil, nil)
	if err != nil {
		return 0, err
	}
	defer term.close()
	spec.ConsoleFD = term.consoleFD(cmd)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, forwarded()...)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("exec: %w", err)
	}
	specR.Close()
	syncW.Close()
	term.started()
	if err := json.NewEncoder(specW).Encode(spec); err != nil {
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
	if err := readStatus(syncR); err != nil {
		cmd.Wait()
		return 0, err
	}
	p := &process{cmd: cmd, term: term}
	return p.wait(sigs), nil
}

// helperCommand is how the exec helper is started. As root: tug itself,
// through its read-only bind mount (protectedSelf). Rootless, tug runs
// as the user, outside any user namespace (the container's belongs to
// the tug that started it, and a multi-threaded Go process cannot join
// one), and the helper is started through nsenter, which joins the
// container's user namespace single-threaded, becomes its root, and
// execs tug as the helper. nsenter cannot set argv[0], so RoleArgEnv
// tells tug that its role is its first argument. The helper is
// non-dumpable and never in the container's pid namespace, so nothing
// in the container can reach the binary through it.
func helperCommand(pid int) (path string, args, env []string, done func(), err error) {
	env = []string{"GOMAXPROCS=1"}
	if os.Geteuid() == 0 {
		exe, err := protectedSelf()
		if err != nil {
			return "", nil, nil, nil, err
		}
		return fmt.Sprintf("/proc/self/fd/%d", exe.Fd()), []string{ExecRole, fmt.Sprint(pid)}, env, func() { exe.Close() }, nil
	}
	nsenter, err := exec.LookPath("nsenter")
	if err != nil {
		return "", nil, nil, nil, fmt.Errorf("rootless exec needs nsenter (util-linux): %w", err)
	}
	self, err := os.Executable()
	if err != nil {
		return "", nil, nil, nil, err
	}
	args = []string{"nsenter", fmt.Sprintf("--user=/proc/%d/ns/user", pid), "--", self, ExecRole, fmt.Sprint(pid)}
	return nsenter, args, append(env, RoleArgEnv+"=1"), func() {}, nil
}

// RoleArgEnv, set in a re-exec's environment, says that its role is its
// first argument, not argv[0].
const RoleArgEnv = "_TUG_ROLE_ARG"

// ExecHelper is the main of the exec role. It never returns.
func ExecHelper() {
	runtime.LockOSThread()
	code, err := execHelper()
	if err != nil {
		writeStatus(os.NewFile(uintptr(inherited().sync()), "sync"), err)
		os.Exit(errorCode(err))
	}
	os.Exit(code)
}

func execHelper() (int, error) {
	var spec execSpec
	fds := inherited()
	f := os.NewFile(uintptr(fds.spec()), "spec")
	if err := json.NewDecoder(f).Decode(&spec); err != nil {
		return 0, fmt.Errorf("read exec spec: %w", err)
	}
	f.Close()
	if err := unix.CloseRange(uint(fds.sync()), ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return 0, err
	}
	// Join the container's cgroups while host paths still resolve; the
	// command inherits them.
	var pid int
	fmt.Sscan(os.Args[1], &pid)
	if !userns.Inside() { // rootless containers have no cgroup of their own
		if err := cgroups.JoinThread(pid); err != nil {
			return 0, err
		}
	}
	// Nothing in the container may ptrace this process or its child
	// before the child execs.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return 0, fmt.Errorf("set non-dumpable: %w", err)
	}
	// This thread gets a filesystem context of its own, then joins every
	// namespace of the container through the pidfd, atomically.
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return 0, fmt.Errorf("unshare fs: %w", err)
	}
	const all = unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWNET | unix.CLONE_NEWCGROUP
	if err := unix.Setns(fds.extra(), all); err != nil {
		return 0, fmt.Errorf("join the container's namespaces: %w", err)
	}
	console := -1
	if spec.Tty {
		c, err := openConsole(spec.ConsoleFD)
		if err != nil {
			return 0, err
		}
		console = c
	}
	id, err := containerUser(spec.User)
	if err != nil {
		return 0, fail(125, "%s", err)
	}
	env := withHome(spec.Env, id.Home)
	if err := unix.Chdir(spec.Cwd); err != nil {
		return 0, fail(125, "working directory %s: %s", spec.Cwd, err)
	}
	exe, err := lookPath(spec.Args[0], env)
	if err != nil {
		return 0, err
	}
	if err := dropCapabilities(spec.Caps); err != nil {
		return 0, err
	}
	if spec.NoNewPrivs {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return 0, err
		}
	}
	if err := loadSeccomp(spec.Seccomp); err != nil {
		return 0, err
	}
	if err := setCaps(spec.Caps, true); err != nil {
		return 0, err
	}
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, forwarded()...)
	child, err := forkCommand(exe, spec, env, id, console)
	if err != nil {
		return 0, err
	}
	unix.Close(fds.sync()) // the command runs: tell the parent
	if spec.Detach {
		return 0, nil // the container's init adopts it
	}
	return reap(child, sigs), nil
}

// forkCommand starts the command as this thread's child, as the user,
// on the console (a pty slave of the container's devpts) if there is one.
func forkCommand(exe string, spec execSpec, env []string, id Identity, console int) (int, error) {
	groups := make([]uint32, len(id.Groups))
	for i, g := range id.Groups {
		groups[i] = uint32(g)
	}
	files := []uintptr{0, 1, 2}
	if console >= 0 {
		files = []uintptr{uintptr(console), uintptr(console), uintptr(console)}
		defer unix.Close(console)
	}
	if spec.Detach {
		files = nil
	}
	pid, err := syscall.ForkExec(exe, spec.Args, &syscall.ProcAttr{
		Env:   env,
		Files: files,
		Sys: &syscall.SysProcAttr{
			Credential: &syscall.Credential{Uid: uint32(id.UID), Gid: uint32(id.GID), Groups: groups,
				NoSetGroups: userns.SetgroupsDenied()},
			Setsid:  spec.Tty || spec.Detach,
			Setctty: spec.Tty,
		},
	})
	if err != nil {
		return 0, execError(spec.Args[0], err)
	}
	return pid, nil
}
