package run

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"

	"tug/run/child"
	"tug/store"
)

// tug mount puts a container's root filesystem on the host, at the
// merged dir of the container (MountPath), as podman mount does; tug
// umount takes it away. There is one such mount or none (no count), and
// it is the same filesystem the container sees:
//   - a stopped container's overlay is mounted there; its next start
//     finds the mount in the copy of the host's mount namespace the
//     child gets and takes it as its root (Spec.Premounted), rather than
//     mounting the same upper dir a second time, which overlayfs does
//     not keep coherent;
//   - a running container's root mount is cloned there from its mount
//     namespace.
// Root only: a rootless container's mounts are its user namespace's.

// MountPath is where tug mount puts container c's root filesystem.
func MountPath(s *store.Store, c *store.Container) string {
	return filepath.Join(s.ContainerDir(c.ID), "merged")
}

// RootfsMounted tells whether container c's root filesystem is on the host.
func RootfsMounted(s *store.Store, c *store.Container) bool {
	return isMountRoot(MountPath(s, c))
}

// isMountRoot tells whether path is the root of a mount.
func isMountRoot(path string) bool {
	var stx unix.Statx_t
	err := unix.Statx(unix.AT_FDCWD, path, unix.AT_SYMLINK_NOFOLLOW, 0, &stx)
	return err == nil && stx.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT != 0 && stx.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0
}

// MountRootfs puts container c's root filesystem on the host and returns
// where; a container mounted already is left as it is.
func MountRootfs(s *store.Store, c *store.Container) (string, error) {
	if s.Rootless() {
		return "", fmt.Errorf("mount %s: root only: a rootless container's root filesystem is mounted in its user namespace", c.Name)
	}
	lock, err := s.LockContainer(c.ID)
	if err != nil {
		return "", err
	}
	defer lock.Unlock()
	path := MountPath(s, c)
	if isMountRoot(path) {
		return path, nil
	}
	st, err := State(s, c)
	if err != nil {
		return "", err
	}
	if processes(st) {
		err = cloneRootMount(st, path)
	} else {
		err = mountStopped(s, c)
	}
	if err != nil {
		return "", fmt.Errorf("mount %s: %w", c.Name, err)
	}
	emit(s, c, "mount", nil)
	return path, nil
}

// UnmountRootfs takes container c's root filesystem off the host (lazily:
// what is open through it stays usable until closed). A container not
// mounted is an error.
func UnmountRootfs(s *store.Store, c *store.Container) error {
	if s.Rootless() {
		return fmt.Errorf("umount %s: root only", c.Name)
	}
	lock, err := s.LockContainer(c.ID)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	path := MountPath(s, c)
	if !isMountRoot(path) {
		return conflict("umount %s: it is not mounted", c.Name)
	}
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil {
		return fmt.Errorf("umount %s: %w", c.Name, err)
	}
	emit(s, c, "unmount", nil)
	return nil
}

// mountStopped mounts a stopped container's overlay on the host, from a
// locked thread with a filesystem context of its own (the overlay's
// options name the layers relative to the layer dir, which it chdirs
// to), which dies with its goroutine.
func mountStopped(s *store.Store, c *store.Container) error {
	spec, err := rootfsSpec(s, c)
	if err != nil {
		return err
	}
	if spec.Driver != "" {
		return errors.New("its storage is not an overlay")
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			errc <- fmt.Errorf("unshare fs: %w", err)
			return
		}
		errc <- child.MountOverlay(spec)
	}()
	return <-errc
}

// cloneRootMount attaches a clone of a running container's root mount at
// path. open_tree clones only mounts of the caller's mount namespace, so
// a locked thread with a filesystem context of its own joins the
// container's, clones its root there, goes back to the host's and
// attaches the clone; the thread dies with its goroutine.
func cloneRootMount(st *store.ContainerState, path string) error {
	pfd, err := pidfd(st.Pid, st.PidStart, st.BootID)
	if err != nil {
		return ErrNotRunning
	}
	defer unix.Close(pfd)
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked
		errc <- func() error {
			if err := unix.Unshare(unix.CLONE_FS); err != nil {
				return fmt.Errorf("unshare fs: %w", err)
			}
			host, err := os.Open("/proc/thread-self/ns/mnt")
			if err != nil {
				return err
			}
			defer host.Close()
			if err := unix.Setns(pfd, unix.CLONE_NEWNS); err != nil {
				return fmt.Errorf("join its mount namespace: %w", err)
			}
			tree, err := unix.OpenTree(unix.AT_FDCWD, "/", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
			if err != nil {
				return fmt.Errorf("clone its root: %w", err)
			}
			defer unix.Close(tree)
			if err := unix.Setns(int(host.Fd()), unix.CLONE_NEWNS); err != nil {
				return fmt.Errorf("back to the host's mount namespace: %w", err)
			}
			if err := unix.MoveMount(tree, "", unix.AT_FDCWD, path, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
				return fmt.Errorf("attach at %s: %w", path, err)
			}
			return nil
		}()
	}()
	return <-errc
}
