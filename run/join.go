package run

// --uts and --pid container:C, which a pod's members get for its infra
// container: the child joins C's UTS namespace through a pidfd of C (as
// --ipc container:C does), and is cloned into C's pid namespace, which
// the thread that clones it enters for the clone (setns(2) of a pid
// namespace changes only where that thread's children are made).

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"

	"tug/store"
)

// hostNamespaces reads --uts and --pid: whether the container shares
// the host's, or the container:ID whose it joins (--ipc: ipcMode).
func hostNamespaces(s *store.Store, opt Options) (uts, pid joined, err error) {
	if uts, err = namespaceMode(s, "--uts", opt.UTS, func(cfg *Config) joined { return joined{cfg.UTS, cfg.Spec.HostUTS} }); err != nil {
		return uts, pid, err
	}
	pid, err = namespaceMode(s, "--pid", opt.PID, func(cfg *Config) joined { return joined{cfg.PID, cfg.Spec.HostPID} })
	return uts, pid, err
}

// joined is a namespace mode: the host's, or container:ID's.
type joined struct {
	container string // "container:ID", or ""
	host      bool
}

// namespaceMode reads flag's value: private, host, or container:C,
// recorded by C's ID, through C to the container whose namespace C
// joined, and host if C has the host's (of returns C's mode).
func namespaceMode(s *store.Store, flag, value string, of func(*Config) joined) (joined, error) {
	ref, join := strings.CutPrefix(value, "container:")
	switch {
	case value == "" || value == "private":
		return joined{}, nil
	case value == "host":
		return joined{host: true}, nil
	case !join:
		return joined{}, fmt.Errorf("%s %q: want private, host or container:NAME", flag, value)
	case ref == "":
		return joined{}, fmt.Errorf("%s container: needs a container's name or ID", flag)
	}
	c, err := s.LookupContainer(ref)
	if err != nil {
		return joined{}, fmt.Errorf("%s %s: %w", flag, value, err)
	}
	cfg, err := ContainerConfig(c)
	if err != nil {
		return joined{}, err
	}
	if m := of(cfg); m.host || m.container != "" {
		return m, nil
	}
	return joined{container: "container:" + c.ID}, nil
}

// utsHostname is the hostname of a container that joins the UTS
// namespace of another (uts): that one's, which -h cannot change.
func utsHostname(s *store.Store, hostname string, uts joined) (string, error) {
	id, ok := strings.CutPrefix(uts.container, "container:")
	if !ok {
		return hostname, nil
	}
	owner, err := s.LookupContainer(id)
	if err != nil {
		return "", fmt.Errorf("--uts: %w", err)
	}
	cfg, err := ContainerConfig(owner)
	if err != nil {
		return "", err
	}
	if hostname != "" && hostname != cfg.Spec.Hostname {
		return "", fmt.Errorf("-h %s: the container joins the UTS namespace of %s, whose hostname is %s", hostname, owner.Name, cfg.Spec.Hostname)
	}
	return cfg.Spec.Hostname, nil
}

// passPidfd hands the child a pidfd of running container id, whose
// namespace (what, in errors) it joins instead of making one (clone,
// a CLONE_NEW* flag); it returns the child's fd number.
func (l *launcher) passPidfd(id, flag, what string, clone uintptr) (int, error) {
	f, err := joinTarget(l.s, id, flag, what, clone)
	if err != nil {
		return 0, err
	}
	l.closers = append(l.closers, func() { f.Close() })
	l.cmd.SysProcAttr.Cloneflags &^= clone
	l.cmd.ExtraFiles = append(l.cmd.ExtraFiles, f)
	return 2 + len(l.cmd.ExtraFiles), nil
}

// joinNamespaces is the launch step of --uts and --pid container:C.
func (l *launcher) joinNamespaces() error {
	if id, ok := strings.CutPrefix(l.cfg.UTS, "container:"); ok {
		fd, err := l.passPidfd(id, "--uts "+l.cfg.UTS, "the UTS namespace", unix.CLONE_NEWUTS)
		if err != nil {
			return err
		}
		l.spec.UTSFD = fd
	}
	if id, ok := strings.CutPrefix(l.cfg.PID, "container:"); ok {
		f, err := joinTarget(l.s, id, "--pid "+l.cfg.PID, "the pid namespace", unix.CLONE_NEWPID)
		if err != nil {
			return err
		}
		l.closers = append(l.closers, func() { f.Close() })
		l.cmd.SysProcAttr.Cloneflags &^= unix.CLONE_NEWPID
		// Go's fork would kill a child whose parent it cannot see
		// (getppid(2) is 0 there); the child sets it (child.Init)
		l.cmd.SysProcAttr.Pdeathsig = 0
		l.pidns = f
	}
	return nil
}

// startIn starts cmd in the pid namespace of the process pidfd is of:
// this thread enters it for the clone, and goes back to its own after.
// The thread stays locked to the caller (the child's Pdeathsig is tied
// to the thread that forks it), so it must come back whole.
func startIn(pidfd *os.File, cmd *exec.Cmd) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	own, err := os.Open("/proc/thread-self/ns/pid")
	if err != nil {
		return fmt.Errorf("join the pid namespace: %w", err)
	}
	defer own.Close()
	// setns(2) of a pid namespace: this thread's children are made in
	// it; the thread itself stays in its own
	if err := unix.Setns(int(pidfd.Fd()), unix.CLONE_NEWPID); err != nil {
		return fmt.Errorf("join the pid namespace of the container: %w", err)
	}
	startErr := cmd.Start()
	// and back: children of this thread are made in tug's own again
	if err := unix.Setns(int(own.Fd()), unix.CLONE_NEWPID); err != nil {
		return errors.Join(startErr, fmt.Errorf("leave the pid namespace: %w", err))
	}
	return startErr
}
