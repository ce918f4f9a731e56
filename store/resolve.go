package store

import (
	"errors"
	"fmt"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"
)

// maxSymlinks is how many symlinks a path may pass through, as Linux
// allows.
const maxSymlinks = 40

// Resolve finds where p (absolute) is in the filesystem the layers
// (bottom first, chain IDs) make, as overlayfs stacks them, with no
// mount: every symlink on the way is followed inside that filesystem, so
// COPY into /lib of a merged-/usr image writes to /usr/lib. It returns
// the resolved path, and whether it is a directory there; a part that
// does not exist ends the resolving, the rest taken as it is.
func (s *Store) Resolve(layers []v1.Hash, p string) (string, bool, error) {
	st, err := s.openStack(layers)
	if err != nil {
		return "", false, err
	}
	defer st.close()
	parts := split(p)
	resolved, floor := "", len(st.fds)
	for hops := 0; len(parts) > 0; {
		cand := path.Join(resolved, parts[0])
		e, err := st.lookup(cand, floor)
		if err != nil {
			return "", false, err
		}
		switch {
		case e.kind == unix.S_IFLNK:
			if hops++; hops > maxSymlinks {
				return "", false, fmt.Errorf("%s: %w", p, unix.ELOOP)
			}
			target := e.target
			if !path.IsAbs(target) {
				target = path.Join("/", resolved, target)
			}
			parts, resolved, floor = append(split(target), parts[1:]...), "", len(st.fds)
			continue
		case e.kind == unix.S_IFDIR:
			resolved, floor, parts = cand, e.floor, parts[1:]
			continue
		}
		// a file, or nothing: the rest cannot be looked up
		return "/" + path.Join(append([]string{resolved}, parts...)...), false, nil
	}
	return "/" + resolved, true, nil
}

func split(p string) []string {
	clean := strings.Trim(path.Clean("/"+p), "/")
	if clean == "" {
		return nil
	}
	return strings.Split(clean, "/")
}

// stack is the diff dirs of an image's layers, opened, top first.
type stack struct {
	fds    []int
	opaque string // the xattr that marks an opaque directory
}

func (s *Store) openStack(layers []v1.Hash) (*stack, error) {
	st := &stack{opaque: s.unpack.OpaqueXattr}
	if st.opaque == "" {
		st.opaque = "trusted.overlay.opaque"
	}
	for i := len(layers) - 1; i >= 0; i-- {
		fd, err := unix.Open(s.LayerDiff(layers[i]), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			st.close()
			return nil, fmt.Errorf("layer %s: %w", layers[i], err)
		}
		st.fds = append(st.fds, fd)
	}
	return st, nil
}

func (st *stack) close() {
	for _, fd := range st.fds {
		unix.Close(fd)
	}
}

// entry is what a path is in the stacked layers: its type (0: nothing),
// a symlink's target, and for a directory how many layers (from the top)
// make its content, down to the first that is opaque or not a directory.
type entry struct {
	kind   uint32
	target string
	floor  int
}

// lookup finds rel in the top floor layers, the first that has it
// deciding what it is; rel's parents are directories in each.
func (st *stack) lookup(rel string, floor int) (entry, error) {
	for i := 0; i < floor; i++ {
		var s unix.Stat_t
		found, err := st.stat(st.fds[i], rel, &s)
		if err != nil || !found {
			if err != nil {
				return entry{}, err
			}
			continue
		}
		switch s.Mode & unix.S_IFMT {
		case unix.S_IFCHR:
			if s.Rdev == 0 {
				return entry{}, nil // a whiteout
			}
		case unix.S_IFLNK:
			buf := make([]byte, unix.PathMax)
			n, err := unix.Readlinkat(st.fds[i], rel, buf)
			if err != nil {
				return entry{}, fmt.Errorf("readlink %s: %w", rel, err)
			}
			return entry{kind: unix.S_IFLNK, target: string(buf[:n])}, nil
		case unix.S_IFDIR:
			return entry{kind: unix.S_IFDIR, floor: st.dirFloor(rel, i, floor)}, nil
		}
		return entry{kind: s.Mode & unix.S_IFMT}, nil
	}
	return entry{}, nil
}

// dirFloor is how far down the directory rel, found first in layer top,
// takes its content from: while it is a directory and not opaque.
func (st *stack) dirFloor(rel string, top, floor int) int {
	for i := top; i < floor; i++ {
		var s unix.Stat_t
		if found, err := st.stat(st.fds[i], rel, &s); err != nil || !found || s.Mode&unix.S_IFMT != unix.S_IFDIR {
			return i
		}
		buf := make([]byte, 1)
		if n, err := unix.Lgetxattr(fmt.Sprintf("/proc/self/fd/%d/%s", st.fds[i], rel), st.opaque, buf); err == nil && n == 1 && buf[0] == 'y' {
			return i + 1
		}
	}
	return floor
}

// stat looks rel up in the layer dir fd, following no symlink on the way.
func (st *stack) stat(fd int, rel string, s *unix.Stat_t) (bool, error) {
	dir, base := path.Split(rel)
	pfd, err := unix.Openat2(fd, dirOrDot(dir), &unix.OpenHow{
		Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS,
	})
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up %s: %w", rel, err)
	}
	defer unix.Close(pfd)
	err = unix.Fstatat(pfd, base, s, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	return err == nil, err
}

func dirOrDot(d string) string {
	if d = strings.Trim(d, "/"); d == "" {
		return "."
	}
	return d
}
