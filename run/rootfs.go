package run

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"

	"tug/run/child"
	"tug/store"
)

// withRootfs calls fn with an O_PATH fd of the container's root
// filesystem, and the view that turns the IDs tug sees there into the
// container's. For a running container that is /proc/PID/root (its
// mounts included, pid checked through a pidfd); otherwise the overlay is
// mounted in a mount namespace private to one locked OS thread, which
// fn runs on and which dies afterwards, so the mount can never leak to
// the host or outlive tug. A container tug mount put on the host is
// read through that mount, which the private namespace has a copy of
// (Spec.Premounted).
func withRootfs(s *store.Store, c *store.Container, fn func(root int, view *idView) error) error {
	st, err := State(s, c)
	if err != nil {
		return err
	}
	if processes(st) {
		fd, err := pidfd(st.Pid, st.PidStart, st.BootID)
		if err == nil {
			defer unix.Close(fd)
			root, err := unix.Open(fmt.Sprintf("/proc/%d/root", st.Pid), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				return fmt.Errorf("open the root of %s: %w", c.Name, err)
			}
			defer unix.Close(root)
			if !sameProcess(st.Pid, st.PidStart, st.BootID) {
				return fmt.Errorf("%s: %w", c.Name, ErrNotRunning)
			}
			cfg, err := ContainerConfig(c)
			if err != nil {
				return err
			}
			return fn(root, viewOf(&cfg.Spec))
		}
	}
	spec, err := rootfsSpec(s, c)
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the thread exits with this goroutine, and its
		// private namespace with it.
		runtime.LockOSThread()
		errc <- onPrivateMount(s, spec, fn)
	}()
	return <-errc
}

// rootfsSpec is container c's spec with the paths of its overlay.
func rootfsSpec(s *store.Store, c *store.Container) (*Spec, error) {
	cfg, err := ContainerConfig(c)
	if err != nil {
		return nil, err
	}
	spec := cfg.Spec
	spec.KeepID = nil // tug reads the files with the store's IDs, not a keep-id container's
	if err := overlayPaths(s, c, &spec); err != nil {
		return nil, err
	}
	return &spec, nil
}

func onPrivateMount(s *store.Store, spec *Spec, fn func(root int, view *idView) error) error {
	if err := unix.Unshare(unix.CLONE_FS | unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("private mount namespace: %w", err)
	}
	// a FUSE daemon forked from this thread shares its namespace, which
	// would outlive the thread with it: unmount before leaving
	if err := prepareRootfs(s, spec); err != nil {
		return err
	}
	defer releaseRootfs(spec)
	root, err := child.PrivateOverlay(spec)
	if err != nil {
		return err
	}
	defer unix.Close(root)
	return fn(root, nil)
}
