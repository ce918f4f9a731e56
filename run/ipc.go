package run

// --ipc, as docker has it: private (the default: a namespace of the
// container's own, not to be joined), shareable (its own, which others
// may join), none (its own, with no /dev/shm), host, and container:C (C's,
// which C must have made shareable). A shareable container's /dev/shm is
// kept where another container's keeper finds it: a directory in the run
// root, a tmpfs of --shm-size mounted on the host for root (a rootless
// keeper's mounts are its own, so a rootless container's is the run
// root's filesystem, with no size of its own). Those that join it bind
// the same one, so POSIX shared memory is shared with System V IPC.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"tug/store"
)

// The --ipc modes a Config records; "" is private, host is Spec.HostIPC,
// and "container:ID" names the donor.
const (
	ipcShareable = "shareable"
	ipcNone      = "none"
)

// ipcMode resolves --ipc: the mode to record, or host. container:C is
// recorded by C's ID, through C to its own donor if C joined one, and is
// host if C is in the host's.
func ipcMode(s *store.Store, ipc string) (mode string, host bool, err error) {
	ref, join := strings.CutPrefix(ipc, "container:")
	switch {
	case ipc == "" || ipc == "private":
		return "", false, nil
	case ipc == ipcShareable || ipc == ipcNone:
		return ipc, false, nil
	case ipc == "host":
		return "", true, nil
	case !join:
		return "", false, fmt.Errorf("--ipc %q: want private, shareable, none, host or container:NAME", ipc)
	case ref == "":
		return "", false, errors.New("--ipc container: needs a container's name or ID")
	}
	donor, err := s.LookupContainer(ref)
	if err != nil {
		return "", false, fmt.Errorf("--ipc %s: %w", ipc, err)
	}
	cfg, err := ContainerConfig(donor)
	if err != nil {
		return "", false, err
	}
	switch {
	case cfg.Spec.HostIPC:
		return "", true, nil
	case cfg.IPC == ipcShareable:
		return "container:" + donor.ID, false, nil
	case strings.HasPrefix(cfg.IPC, "container:"):
		return cfg.IPC, false, nil
	}
	return "", false, fmt.Errorf("--ipc %s: the IPC namespace of %s is not shareable (create it with --ipc shareable)", ipc, donor.Name)
}

// NamespaceOwner returns the ID of the container whose namespaces c
// joins (--network, else --ipc, --uts or --pid container:C), whose user namespace a
// rootless tug must be in to start c; "" if none.
func NamespaceOwner(c *store.Container) string {
	cfg, err := ContainerConfig(c)
	if err != nil {
		return ""
	}
	if id, ok := sharedNetwork(cfg); ok {
		return id
	}
	for _, mode := range []string{cfg.IPC, cfg.UTS, cfg.PID} {
		if id, ok := strings.CutPrefix(mode, "container:"); ok {
			return id
		}
	}
	return ""
}

// oneOwner refuses, for a rootless container, to join the namespaces
// (modes: --network, --ipc, --uts and --pid as recorded) of more than
// one container: tug can start it in only one user namespace.
func oneOwner(s *store.Store, modes ...string) error {
	owner := ""
	for _, m := range modes {
		id, joins := strings.CutPrefix(m, "container:")
		switch {
		case !joins || !s.Rootless():
		case owner == "":
			owner = id
		case id != owner:
			return errors.New("--network, --ipc, --uts and --pid container: must name the same container for a rootless one (tug starts it in that one's user namespace)")
		}
	}
	return nil
}

// ipcDonor is the ID of the container whose IPC namespace a container
// joins, if it joins one.
func ipcDonor(cfg *Config) (string, bool) {
	return strings.CutPrefix(cfg.IPC, "container:")
}

// shmDir is where shareable container id keeps its /dev/shm.
func shmDir(s *store.Store, id string) string {
	return filepath.Join(s.RunRoot(), "shm", id)
}

// makeShm makes shareable container id's /dev/shm afresh: for root a
// tmpfs of size bytes (docker's 64 MiB if 0) on the host, for a
// rootless user a directory.
func makeShm(s *store.Store, id string, size int64) (string, error) {
	releaseShm(s, id) // what a keeper killed left
	dir := shmDir(s, id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("--ipc shareable: %w", err)
	}
	if s.Rootless() {
		return dir, os.Chmod(dir, 0o1777)
	}
	if size <= 0 {
		size = 64 << 20
	}
	opts := fmt.Sprintf("mode=1777,size=%d", size)
	if err := unix.Mount("shm", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, opts); err != nil {
		return "", fmt.Errorf("--ipc shareable: mount /dev/shm: %w", err)
	}
	return dir, nil
}

// releaseShm undoes makeShm; safe to run again, and when there is none.
func releaseShm(s *store.Store, id string) {
	dir := shmDir(s, id)
	if !s.Rootless() {
		unix.Unmount(dir, unix.MNT_DETACH|unix.UMOUNT_NOFOLLOW)
	}
	os.RemoveAll(dir)
}

// sharedIPC is the launch step of --ipc shareable and container:C: the
// shareable container's /dev/shm made; or for one that joins, a pidfd
// of its donor, through which the child joins its namespace, and the
// donor's /dev/shm.
func (l *launcher) sharedIPC() error {
	id, join := ipcDonor(l.cfg)
	switch {
	case l.cfg.IPC == ipcShareable:
		dir, err := makeShm(l.s, l.c.ID, l.spec.ShmSize)
		if err != nil {
			return err
		}
		l.keep(func() { releaseShm(l.s, l.c.ID) })
		l.spec.Mounts = append([]Mount{{Source: dir, Destination: "/dev/shm"}}, l.spec.Mounts...)
	case join:
		fd, err := l.passPidfd(id, "--ipc "+l.cfg.IPC, "the IPC namespace", unix.CLONE_NEWIPC)
		if err != nil {
			return err
		}
		l.spec.IPCFD = fd
		l.spec.Mounts = append([]Mount{{Source: shmDir(l.s, id), Destination: "/dev/shm"}}, l.spec.Mounts...)
	}
	return nil
}
