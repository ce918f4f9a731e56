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
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"

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
	// Timeout, if set, kills the command after it, its children too (a
	// healthcheck's probe).
	Timeout time.Duration
}

// Exec runs a command in a running container and returns its exit code.
func Exec(s *store.Store, c *store.Container, opt ExecOptions, stdio IO) (int, error) {
	cfg, err := ContainerConfig(c)
	if err != nil {
		return 0, err
	}
	return execIn(s, c, cfg, opt, stdio)
}

// execIn is Exec with the container's config read already.
func execIn(s *store.Store, c *store.Container, cfg *Config, opt ExecOptions, stdio IO) (int, error) {
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
		Args: opt.Args, Env: env, Cwd: cmp.Or(opt.Workdir, cfg.Spec.Cwd, "/"), User: cmp.Or(opt.User, cfg.Spec.User),
		Tty: opt.Tty, Detach: opt.Detach, Caps: cfg.Spec.Caps, NoNewPrivs: cfg.Spec.NoNewPrivs, Seccomp: cfg.Spec.Seccomp,
		Probe: opt.Timeout > 0, GroupAdd: cfg.Spec.GroupAdd,
	}
	if !opt.Interactive {
		stdio.Stdin = nil
	}
	if opt.Detach {
		stdio = IO{}
	}
	if opt.Timeout == 0 { // a probe is no exec of the user's
		cmdline := strings.Join(opt.Args, " ")
		emit(s, c, "exec_create: "+cmdline, nil)
		emit(s, c, "exec_start: "+cmdline, nil)
	}
	return runHelper(spec, st.Pid, pidFile, stdio, opt.Timeout)
}

// runHelper runs spec in the container of pid (pidFile its pidfd) and
// returns the command's exit code; past a timeout (if not 0), the
// command is killed.
func runHelper(spec execSpec, pid int, pidFile *os.File, stdio IO, timeout time.Duration) (int, error) {
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
	signal.Notify(sigs, child.Forwarded()...)
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

// helperCommand is how the exec helper is started. As root: tug itself,
// through its read-only bind mount (protectedSelf). Rootless, tug runs
// as the user, outside any user namespace (the container's belongs to
// the tug that started it, and a multi-threaded Go process cannot join
// one), and the helper is started through nsenter, which joins the
// container's user namespace single-threaded, becomes its root, and
// execs tug as the helper. nsenter cannot set argv[0], so child.RoleArgEnv
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
