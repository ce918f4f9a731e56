package child

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"tug/internal/userns"
	"tug/run/cgroups"
	"tug/run/childspec"

	"golang.org/x/sys/unix"
)

// ExecHelper is the main of the exec role. It never returns.
func ExecHelper() {
	runtime.LockOSThread()
	code, err := execHelper()
	if err != nil {
		WriteStatus(os.NewFile(uintptr(inherited().sync()), "sync"), err)
		os.Exit(ErrorCode(err))
	}
	os.Exit(code)
}

func execHelper() (int, error) {
	var spec childspec.Exec
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
	if err := cgroups.JoinFiles(spec.Cgroups); err != nil {
		return 0, err
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
	if err := unix.Setns(fds.extra(), spec.Namespaces); err != nil {
		return 0, fmt.Errorf("join the container's namespaces: %w", err)
	}
	if spec.Dial != nil {
		unix.Close(fds.sync()) // nothing is started: the probe is this process's
		return dialProbe(spec.Dial, spec.ProbeTimeout), nil
	}
	console := -1
	if spec.Tty {
		c, err := openConsole(spec.ConsoleFD)
		if err != nil {
			return 0, err
		}
		console = c
	}
	id, err := containerUser(spec.User, spec.GroupAdd)
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
	// the container's limits, while this process may still raise them
	if err := setRlimits(spec.Rlimits); err != nil {
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
	if err := setCaps(forkCaps(spec.Caps), true); err != nil {
		return 0, err
	}
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, Forwarded()...)
	// A probe's helper comes from a monitor, whose timers are slack
	// (run.startMonitor); the command gets Linux's default slack, 50 µs,
	// which it inherits from this thread.
	if err := unix.Prctl(unix.PR_SET_TIMERSLACK, 50_000, 0, 0, 0); err != nil {
		return 0, fmt.Errorf("timer slack: %w", err)
	}
	files := []uintptr{0, 1, 2}
	switch {
	case console >= 0:
		files = []uintptr{uintptr(console), uintptr(console), uintptr(console)}
		defer unix.Close(console)
	case spec.Detach:
		files = nil
	}
	var output *os.File
	w := -1
	if spec.Probe {
		if output, w, err = probeOutput(); err != nil {
			return 0, err
		}
		files = []uintptr{0, uintptr(w), uintptr(w)}
	}
	child, err := forkCommand(exe, spec, env, id, files)
	if w >= 0 {
		unix.Close(w) // the probe's now, and the helper must see its EOF
	}
	if err != nil {
		return 0, err
	}
	unix.Close(fds.sync()) // the command runs: tell the parent
	if spec.Detach {
		return 0, nil // the container's init adopts it
	}
	if spec.Probe {
		return reportProbe(child, output, spec.ProbeTimeout, sigs)
	}
	return reap(child, sigs), nil
}

// forkCommand starts the command as this thread's child, as the user,
// with files as its stdio (a console's pty slave of the container's
// devpts, the helper's own, or none).
func forkCommand(exe string, spec childspec.Exec, env []string, id Identity, files []uintptr) (int, error) {
	groups := make([]uint32, len(id.Groups))
	for i, g := range id.Groups {
		groups[i] = uint32(g)
	}
	pid, err := syscall.ForkExec(exe, spec.Args, &syscall.ProcAttr{
		Env:   env,
		Files: files,
		Sys: &syscall.SysProcAttr{
			Credential: &syscall.Credential{Uid: uint32(id.UID), Gid: uint32(id.GID), Groups: groups,
				NoSetGroups: userns.SetgroupsDenied()},
			Setsid:  spec.Tty || spec.Detach,
			Setctty: spec.Tty,
			Setpgid: spec.Probe && !spec.Tty && !spec.Detach, // setpgid(0, 0): the probe's group, killed whole
		},
	})
	if err != nil {
		return 0, execError(spec.Args[0], err)
	}
	return pid, nil
}
