// Package archive unpacks layer tarballs into a directory that overlayfs
// can use as a lower dir. It treats every archive as hostile: each name is
// cleaned and resolved inside the target with openat2(RESOLVE_IN_ROOT), so
// no entry, link or whiteout can touch anything outside it.
package archive

import (
	"archive/tar"
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"tug/internal/ids"
)

// Options says how to unpack.
type Options struct {
	// Umask is the process umask; modes it would strip are set explicitly.
	Umask uint32
	// Chown applies the archive's owners. Without it files belong to the
	// unpacking user (rootless without an ID mapping).
	Chown bool
	// SkipDevices skips character and block devices (other than overlay
	// whiteouts), which an unprivileged user cannot create.
	SkipDevices bool
	// OpaqueXattr is the xattr that marks an opaque directory;
	// "trusted.overlay.opaque" when empty ("user.overlay.opaque" for
	// overlayfs mounted with userxattr).
	OpaqueXattr string
	// KeepOwner unpacks files whose owner the user namespace does not
	// map (a rootless user with no subordinate IDs) as the unpacking
	// user, and records the owner in OwnerXattr, instead of failing.
	KeepOwner bool
	// Flatten applies whiteouts and opaque markers by deleting what
	// they hide, layering one tree over another in place of overlayfs
	// (the copy storage driver), instead of recording them.
	Flatten bool
	// Literal takes .wh. names as ordinary files (tug cp), not as
	// whiteouts (layers).
	Literal bool
	// Owner, with Chown, gives every entry these UID and GID in place of
	// the archive's (tug cp into a running --userns keep-id container,
	// whose root is another of tug's IDs than tug's own root).
	Owner *[2]int
}

const (
	whiteoutPrefix = ".wh."
	opaqueMarker   = ".wh..wh..opq"
)

// OwnerXattr holds "UID:GID" of a file unpacked with KeepOwner whose
// owner could not be applied.
const OwnerXattr = "user.tug.owner"

// ErrUnsafe marks an entry refused because it tries to leave the layer.
var ErrUnsafe = errors.New("unsafe entry")

type applier struct {
	r       *root
	opt     Options
	buf     []byte
	dirs    []*tar.Header // directory times are set last, deepest first
	written int64
}

// Apply unpacks the tar stream r into dir and returns the bytes of file
// content written. It stops at the tar end marker; the caller should read
// the rest of r to finish any digest it computes.
func Apply(dir string, r io.Reader, opt Options) (int64, error) {
	u, err := NewUnpacker(dir, opt)
	if err != nil {
		return 0, err
	}
	// Buffered: tar reads a header, then a file, a few hundred bytes at
	// a time, and each read from a pipe is a round trip to the writer's
	// goroutine (a thread switch, when one of the two is locked to its
	// thread). It may read past the end marker, which costs the caller
	// nothing: what it reads after is only drained.
	tr := tar.NewReader(bufio.NewReaderSize(r, 256<<10))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err == nil {
			err = u.Entry(hdr, tr)
		} else {
			err = fmt.Errorf("read tar: %w", err)
		}
		if err != nil {
			u.a.r.close()
			return u.Written(), err
		}
	}
	return u.Written(), u.Close()
}

// cleanName turns an entry name into a path relative to the root. A name
// with a ".." element is refused outright rather than silently cleaned.
func cleanName(n string) (string, error) {
	for _, el := range strings.Split(n, "/") {
		if el == ".." {
			return "", fmt.Errorf("%w: path has a .. element", ErrUnsafe)
		}
	}
	return strings.TrimPrefix(path.Clean("/"+n), "/"), nil
}

func (a *applier) entry(hdr *tar.Header, tr io.Reader) error {
	a.r.sweep()
	rel, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	if o := a.opt.Owner; o != nil {
		hdr.Uid, hdr.Gid = o[0], o[1]
	}
	if err := errors.Join(ids.Check(int64(hdr.Uid)), ids.Check(int64(hdr.Gid))); err != nil {
		return fmt.Errorf("%w: owner: %w", ErrUnsafe, err)
	}
	if rel == "" {
		if hdr.Typeflag == tar.TypeDir {
			a.dirs = append(a.dirs, hdr)
		}
		return nil // the root itself: only its times matter
	}
	parent, base := path.Split(rel)
	parent = strings.TrimSuffix(parent, "/")
	pfd, err := a.r.dir(parent)
	if err != nil {
		return err
	}
	if base == opaqueMarker && !a.opt.Literal {
		if a.opt.Flatten {
			return a.emptyDir(parent)
		}
		return a.setOpaque(parent)
	}
	if strings.HasPrefix(base, whiteoutPrefix) && !a.opt.Literal {
		return a.whiteout(pfd, base[len(whiteoutPrefix):])
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		return a.mkdir(pfd, base, hdr)
	case tar.TypeReg, tar.TypeRegA:
		return a.file(pfd, base, hdr, tr)
	case tar.TypeSymlink:
		return a.symlink(pfd, base, hdr)
	case tar.TypeLink:
		return a.hardlink(pfd, base, hdr)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		return a.node(pfd, base, hdr)
	default:
		return nil // pax globals, GNU long names and the like carry no file
	}
}

// whiteout records the deletion of name from lower layers as overlayfs
// expects it: a 0/0 character device; flattening, it deletes name.
func (a *applier) whiteout(pfd int, name string) error {
	if name == "" || strings.Contains(name, "/") {
		return fmt.Errorf("%w: bad whiteout", ErrUnsafe)
	}
	if err := a.clear(pfd, name); err != nil || a.opt.Flatten {
		return err
	}
	if err := unix.Mknodat(pfd, name, unix.S_IFCHR, 0); err != nil {
		return fmt.Errorf("whiteout %s: %w", name, err)
	}
	return nil
}

// setOpaque marks dir so that overlayfs hides what lower layers have in it.
func (a *applier) setOpaque(dir string) error {
	fd, err := a.r.resolve(dirOrDot(dir), unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer unix.Close(fd)
	if err := unix.Fsetxattr(fd, a.opt.OpaqueXattr, []byte("y"), 0); err != nil {
		return fmt.Errorf("mark %s opaque: %w", dir, err)
	}
	return nil
}

// emptyDir removes everything in dir: lower layers' files under an
// opaque directory, when flattening.
func (a *applier) emptyDir(dir string) error {
	fd, err := a.r.resolve(dirOrDot(dir), unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer unix.Close(fd)
	f, err := os.Open(fmt.Sprintf("/proc/self/fd/%d", fd))
	if err != nil {
		return err
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return fmt.Errorf("read %s: %w", dir, err)
	}
	for _, n := range names {
		if err := a.clear(fd, n); err != nil {
			return err
		}
	}
	return nil
}

func dirOrDot(d string) string {
	if d == "" {
		return "."
	}
	return d
}

// clear removes whatever an earlier entry left at name, unless it is a
// directory and keepDir is set (a directory entry over a directory merges).
func (a *applier) clearExcept(pfd int, name string, keepDir bool) (isDir bool, err error) {
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if err == unix.ENOENT {
			return false, nil
		}
		return false, fmt.Errorf("stat %s: %w", name, err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		if keepDir {
			return true, nil
		}
		a.r.forget()
		return false, removeAllAt(pfd, name)
	}
	a.r.forget()
	if err := unix.Unlinkat(pfd, name, 0); err != nil {
		return false, fmt.Errorf("replace %s: %w", name, err)
	}
	return false, nil
}

func (a *applier) clear(pfd int, name string) error {
	_, err := a.clearExcept(pfd, name, false)
	return err
}

// removeAllAt removes the tree name below the directory pfd, never
// following symlinks.
func removeAllAt(pfd int, name string) error {
	root, err := os.OpenRoot(fmt.Sprintf("/proc/self/fd/%d", pfd))
	if err != nil {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	defer root.Close()
	if err := root.RemoveAll(name); err != nil {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	return nil
}

func (a *applier) mode(hdr *tar.Header) uint32 {
	return uint32(hdr.Mode) & 0o7777
}

func (a *applier) mkdir(pfd int, name string, hdr *tar.Header) error {
	exists, err := a.clearExcept(pfd, name, true)
	if err != nil {
		return err
	}
	if !exists {
		if err := unix.Mkdirat(pfd, name, a.mode(hdr)&0o777); err != nil {
			return fmt.Errorf("mkdir: %w", err)
		}
	}
	fd, err := openNoFollow(pfd, name, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := a.meta(fd, hdr, !exists); err != nil {
		return err
	}
	a.dirs = append(a.dirs, hdr)
	return nil
}

func openNoFollow(pfd int, name string, flags int) (int, error) {
	fd, err := unix.Openat(pfd, name, flags|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open %s: %w", name, err)
	}
	return fd, nil
}

// file creates name with the entry's content. It tries the create
// first and clears what an earlier entry left only when that fails: a
// fresh layer pays no lookup per file.
func (a *applier) file(pfd int, name string, hdr *tar.Header, tr io.Reader) error {
	flags := unix.O_WRONLY | unix.O_CREAT | unix.O_EXCL | unix.O_NOFOLLOW | unix.O_CLOEXEC
	fd, err := unix.Openat(pfd, name, flags, a.mode(hdr)&0o777)
	if err == unix.EEXIST {
		if err := a.clear(pfd, name); err != nil {
			return err
		}
		fd, err = unix.Openat(pfd, name, flags, a.mode(hdr)&0o777)
	}
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	defer unix.Close(fd)
	n, err := io.CopyBuffer(fdWriter(fd), tr, a.buf)
	a.written += n
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if err := a.meta(fd, hdr, true); err != nil {
		return err
	}
	return setTimes(fd, hdr)
}

// fdWriter writes to a file descriptor with no *os.File around it (whose
// making costs a syscall per file).
type fdWriter int

func (w fdWriter) Write(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := unix.Write(int(w), p[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, err
		}
		n += m
	}
	return n, nil
}

// meta applies owner, mode bits the umask or a chown would lose, and
// xattrs, on an open fd.
func (a *applier) meta(fd int, hdr *tar.Header, created bool) error {
	chowned := false
	if a.opt.Chown && (hdr.Uid != 0 || hdr.Gid != 0 || !created) {
		err := unix.Fchown(fd, hdr.Uid, hdr.Gid)
		switch {
		case err == nil:
			chowned = true
		case a.opt.KeepOwner && errors.Is(err, unix.EINVAL): // not mapped
			if err := unix.Fsetxattr(fd, OwnerXattr, fmt.Appendf(nil, "%d:%d", hdr.Uid, hdr.Gid), 0); err != nil {
				return fmt.Errorf("record owner: %w", err)
			}
		default:
			return fmt.Errorf("chown: %w", err)
		}
	}
	mode := a.mode(hdr)
	if !created || mode&a.opt.Umask != 0 || (chowned && mode&(unix.S_ISUID|unix.S_ISGID) != 0) || mode&0o7000 != 0 {
		if err := unix.Fchmod(fd, mode); err != nil {
			return fmt.Errorf("chmod: %w", err)
		}
	}
	return a.xattrs(fd, hdr)
}

// xattrs sets the entry's extended attributes, except overlayfs's own,
// which a layer must never smuggle in (they could turn a file into a
// redirect or a whiteout of the lower layers).
func (a *applier) xattrs(fd int, hdr *tar.Header) error {
	for k, v := range hdr.PAXRecords {
		attr, ok := strings.CutPrefix(k, "SCHILY.xattr.")
		if !ok || isOverlayXattr(attr) {
			continue
		}
		if err := unix.Fsetxattr(fd, attr, []byte(v), 0); err != nil {
			if err == unix.EPERM || err == unix.ENOTSUP {
				continue // e.g. trusted.* or security.* without privilege
			}
			return fmt.Errorf("set xattr %s: %w", attr, err)
		}
	}
	return nil
}

func isOverlayXattr(attr string) bool {
	return strings.HasPrefix(attr, "trusted.overlay.") || strings.HasPrefix(attr, "user.overlay.")
}

func setTimes(fd int, hdr *tar.Header) error {
	ts := []unix.Timespec{unix.NsecToTimespec(hdr.AccessTime.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
	if hdr.AccessTime.IsZero() {
		ts[0] = ts[1]
	}
	if err := unix.UtimesNanoAt(fd, "", ts, unix.AT_EMPTY_PATH); err != nil {
		return fmt.Errorf("set times: %w", err)
	}
	return nil
}

func (a *applier) symlink(pfd int, name string, hdr *tar.Header) error {
	if err := a.clear(pfd, name); err != nil {
		return err
	}
	if err := unix.Symlinkat(hdr.Linkname, pfd, name); err != nil {
		return fmt.Errorf("symlink: %w", err)
	}
	return a.lmeta(pfd, name, hdr)
}

// lmeta applies owner and times to name itself, never a symlink's target.
func (a *applier) lmeta(pfd int, name string, hdr *tar.Header) error {
	if a.opt.Chown && (hdr.Uid != 0 || hdr.Gid != 0) {
		err := unix.Fchownat(pfd, name, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW)
		if err != nil && !(a.opt.KeepOwner && errors.Is(err, unix.EINVAL)) { // a symlink cannot record it
			return fmt.Errorf("chown: %w", err)
		}
	}
	ts := []unix.Timespec{unix.NsecToTimespec(hdr.ModTime.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
	if err := unix.UtimesNanoAt(pfd, name, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times: %w", err)
	}
	return nil
}

// hardlink links name to an earlier entry. The target is resolved inside
// the root and its last element is not followed, so a link to a symlink
// links the symlink itself, and no link can reach a file outside.
func (a *applier) hardlink(pfd int, name string, hdr *tar.Header) error {
	target, err := cleanName(hdr.Linkname)
	if err != nil {
		return err
	}
	if target == "" {
		return fmt.Errorf("%w: hard link to the layer root", ErrUnsafe)
	}
	tdir, tbase := path.Split(target)
	tfd, err := a.r.resolve(dirOrDot(strings.TrimSuffix(tdir, "/")), unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return fmt.Errorf("link target %s: %w", target, err)
	}
	defer unix.Close(tfd)
	if err := a.clear(pfd, name); err != nil {
		return err
	}
	if err := unix.Linkat(tfd, tbase, pfd, name, 0); err != nil {
		return fmt.Errorf("link to %s: %w", target, err)
	}
	return nil
}

func (a *applier) node(pfd int, name string, hdr *tar.Header) error {
	mode := a.mode(hdr) & 0o777
	switch hdr.Typeflag {
	case tar.TypeChar:
		if a.opt.SkipDevices {
			return nil
		}
		mode |= unix.S_IFCHR
	case tar.TypeBlock:
		if a.opt.SkipDevices {
			return nil
		}
		mode |= unix.S_IFBLK
	default:
		mode |= unix.S_IFIFO
	}
	if err := a.clear(pfd, name); err != nil {
		return err
	}
	dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
	if err := unix.Mknodat(pfd, name, mode, int(dev)); err != nil {
		return fmt.Errorf("mknod: %w", err)
	}
	if err := unix.Fchmodat(pfd, name, a.mode(hdr), 0); err != nil && a.mode(hdr)&a.opt.Umask != 0 {
		return fmt.Errorf("chmod: %w", err)
	}
	return a.lmeta(pfd, name, hdr)
}

// finishDirs sets directory times last, deepest first, since creating
// entries inside a directory changes its mtime.
func (a *applier) finishDirs() error {
	for i := len(a.dirs) - 1; i >= 0; i-- {
		hdr := a.dirs[i]
		rel, _ := cleanName(hdr.Name)
		fd, err := a.r.resolve(dirOrDot(rel), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW)
		if err != nil {
			continue // replaced by a later entry
		}
		err = setTimes(fd, hdr)
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("dir %s: %w", rel, err)
		}
	}
	return nil
}
