package archive

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// root is a directory that entries are confined to. Every lookup goes
// through openat2 with RESOLVE_IN_ROOT, so "..", absolute symlinks and
// symlinks planted by earlier entries all resolve inside the root, as if
// the process had chrooted into it: nothing can reach outside.
type root struct {
	fd    int
	dirs  map[string]int // cleaned relative dir → O_PATH fd
	stale []int          // forgotten fds, closed by sweep
}

const maxCachedDirs = 128

func openRoot(dir string) (*root, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	return &root{fd: fd, dirs: map[string]int{}}, nil
}

func (r *root) close() {
	r.forget()
	r.sweep()
	unix.Close(r.fd)
}

// forget drops cached dir fds. It runs whenever an entry removes
// something, since that can change what a cached path resolves to. The
// fds stay open until sweep, as the current entry may still hold one.
func (r *root) forget() {
	for k, fd := range r.dirs {
		r.stale = append(r.stale, fd)
		delete(r.dirs, k)
	}
}

// sweep closes forgotten fds; it runs between entries.
func (r *root) sweep() {
	for _, fd := range r.stale {
		unix.Close(fd)
	}
	r.stale = r.stale[:0]
}

// resolve opens rel (relative to the root, resolved inside it) with flags.
func (r *root) resolve(rel string, flags uint64) (int, error) {
	how := unix.OpenHow{
		Flags:   flags | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV,
	}
	for {
		fd, err := unix.Openat2(r.fd, rel, &how)
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		return fd, err
	}
}

// dir returns an O_PATH fd of the directory rel, creating missing parents
// as 0755 directories, as tar extraction does. The fd is cached; callers
// must not close it.
func (r *root) dir(rel string) (int, error) {
	if rel == "" {
		return r.fd, nil
	}
	if fd, ok := r.dirs[rel]; ok {
		return fd, nil
	}
	fd, err := r.resolve(rel, unix.O_PATH|unix.O_DIRECTORY)
	if errors.Is(err, unix.ENOENT) {
		parent, base := path.Split(rel)
		pfd, perr := r.dir(strings.TrimSuffix(parent, "/"))
		if perr != nil {
			return -1, perr
		}
		if merr := unix.Mkdirat(pfd, base, 0o755); merr != nil && merr != unix.EEXIST {
			return -1, fmt.Errorf("mkdir %s: %w", rel, merr)
		}
		fd, err = r.resolve(rel, unix.O_PATH|unix.O_DIRECTORY)
	}
	if err != nil {
		return -1, fmt.Errorf("open dir %s: %w", rel, err)
	}
	if len(r.dirs) >= maxCachedDirs {
		r.forget()
	}
	r.dirs[rel] = fd
	return fd, nil
}
