package child

// Path resolution inside the rootfs: openat2 with RESOLVE_IN_ROOT, so
// that a symlink in the image never leads a mount or a file outside it.

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// OpenIn opens rel inside the rootfs with openat2(RESOLVE_IN_ROOT): a
// symlink in the image (a /proc or /dev that is a link to a host path)
// resolves inside the rootfs, never outside it.
func OpenIn(root int, rel string, flags uint64) (int, error) {
	how := unix.OpenHow{Flags: flags | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS}
	return unix.Openat2(root, rel, &how)
}

// mkdirIn makes the directory rel and its parents inside the rootfs, each
// step resolved inside it, and returns an O_PATH fd of it. A dangling
// symlink on the way is followed, inside the rootfs, as a chroot would.
func mkdirIn(root int, rel string) (int, error) {
	return mkdirInDepth(root, rel, 0)
}

func mkdirInDepth(root int, rel string, depth int) (int, error) {
	if depth > 40 {
		return -1, unix.ELOOP
	}
	rel = strings.Trim(path.Clean("/"+rel), "/")
	if rel == "" {
		rel = "."
	}
	fd, err := OpenIn(root, rel, unix.O_PATH|unix.O_DIRECTORY)
	if err == nil || rel == "." || !errors.Is(err, unix.ENOENT) {
		return fd, err
	}
	parent, base := path.Split(rel)
	pfd, err := mkdirInDepth(root, parent, depth+1)
	if err != nil {
		return -1, err
	}
	defer unix.Close(pfd)
	if err := unix.Mkdirat(pfd, base, 0o755); err == unix.EEXIST {
		// a dangling symlink: make what it points at, inside the rootfs
		buf := make([]byte, unix.PathMax)
		n, rerr := unix.Readlinkat(pfd, base, buf)
		if rerr != nil {
			return -1, err
		}
		target := string(buf[:n])
		if !path.IsAbs(target) {
			target = path.Join(parent, target)
		}
		return mkdirInDepth(root, target, depth+1)
	} else if err != nil {
		return -1, err
	}
	return OpenIn(root, rel, unix.O_PATH|unix.O_DIRECTORY)
}

// touchIn makes the file rel inside the rootfs if missing, as a mount
// point for a file bind, and returns an O_PATH fd of it.
func touchIn(root int, rel string) (int, error) {
	rel = strings.Trim(path.Clean("/"+rel), "/")
	fd, err := OpenIn(root, rel, unix.O_PATH)
	if err == nil || !errors.Is(err, unix.ENOENT) {
		return fd, err
	}
	parent, base := path.Split(rel)
	pfd, err := mkdirIn(root, parent)
	if err != nil {
		return -1, err
	}
	defer unix.Close(pfd)
	f, err := unix.Openat(pfd, base, unix.O_CREAT|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err != nil && err != unix.EEXIST {
		return -1, err
	}
	if err == nil {
		unix.Close(f)
	}
	return OpenIn(root, rel, unix.O_PATH)
}

// FDPath names an open fd for mount(2), which follows the magic link to
// the very inode that was resolved inside the rootfs.
func FDPath(fd int) string { return fmt.Sprintf("/proc/self/fd/%d", fd) }
