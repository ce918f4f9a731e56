package run

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// protectedSelf returns an fd through which the re-exec child runs tug
// without exposing a writable host binary (CVE-2019-5736). A container
// can reach a tug process's /proc/PID/exe, for instance by making its
// entrypoint exec /proc/self/exe, then hold it open and write the binary
// once tug exits. So the child is exec'd through a detached, read-only
// bind mount of the binary: open_tree clones a mount of just this file,
// mount_setattr makes it read-only, and the exec goes through the fd.
// Every path to the binary from the child then refuses writes (EROFS),
// and nothing is mounted anywhere a process can see. It costs two
// syscalls, where a sealed memfd copy costs a copy of the whole binary
// (about 5 ms for 11 MB here) on every start.
//
// The fd is moved to 100 or above: the child is exec'd by the path
// /proc/self/fd/N after its inherited fds are laid out at 3, 4…, and N
// must not be one of them.
func protectedSelf() (*os.File, error) {
	f, err := readOnlyMount("/proc/self/exe")
	if err != nil {
		return nil, fmt.Errorf("protect own binary: %w", err)
	}
	defer f.Close()
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 100)
	if err != nil {
		return nil, fmt.Errorf("protect own binary: %w", err)
	}
	return os.NewFile(uintptr(fd), "tug-ro"), nil
}

// readOnlyMount returns an fd of file through a detached read-only bind
// mount of it alone.
func readOnlyMount(file string) (*os.File, error) {
	fd, err := unix.OpenTree(unix.AT_FDCWD, file, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
	if err != nil {
		return nil, fmt.Errorf("open_tree: %w", err)
	}
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, &attr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("mount_setattr: %w", err)
	}
	return os.NewFile(uintptr(fd), file), nil
}
