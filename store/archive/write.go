package archive

import (
	"archive/tar"
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// WriteOptions say how to write a tree as a tar.
type WriteOptions struct {
	// Prefix is put before every name ("etc" makes "etc/passwd").
	Prefix string
	// OverlayWhiteouts turns overlayfs whiteouts (0/0 char devices) and
	// opaque dirs into the .wh. entries of image layers, for commit.
	OverlayWhiteouts bool
	// OpaqueXattr is the opaque marker, as in Options.
	OpaqueXattr string
	// OneFilesystem skips what is mounted below the top: a running
	// container's /proc, /sys and binds.
	OneFilesystem bool
	// Exclude, if set, leaves out the entries it is true for.
	Exclude func(name string, st *unix.Stat_t) bool
	// Header, if set, may change each header before it is written
	// (tug build clamps times with it).
	Header func(*tar.Header)
	// Content, if set, stands for each regular file's content: the
	// entry gets size 0 and the PAX record ContentRecord holding what
	// Content returns, and nothing of the file is read unless Content
	// opens it (tug build's cache keys, from its record of file hashes).
	Content func(name string, st *unix.Stat_t, open func() (*os.File, error)) (string, error)
}

// ContentRecord is the PAX record that holds what WriteOptions.Content
// returned for a file.
const ContentRecord = "TUG.content"

// Write walks the tree at rel below the directory fd dir and writes it to
// w as a tar. Every step is relative to an fd and nothing is followed, so
// a symlink in the tree is written as a symlink and never leads the walk
// outside it. Hard links to one inode become tar hard links. Output is
// buffered, as Apply's input is: a tar of many small files through a
// pipe would otherwise cross to the reader a header or a file at a time.
func Write(dir int, rel string, w io.Writer, opt WriteOptions) error {
	if opt.OpaqueXattr == "" {
		opt.OpaqueXattr = "trusted.overlay.opaque"
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	tw := tar.NewWriter(bw)
	wr := &writer{tw: tw, opt: opt, links: map[[2]uint64]string{}}
	var st unix.Stat_t
	if err := unix.Fstatat(dir, relOrDot(rel), &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("stat %s: %w", rel, err)
	}
	wr.dev = st.Dev
	parent, base := path.Split(strings.TrimSuffix(relOrDot(rel), "/"))
	pfd := dir
	if parent != "" {
		fd, err := unix.Openat(dir, parent, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open %s: %w", parent, err)
		}
		defer unix.Close(fd)
		pfd = fd
	}
	if err := wr.entry(pfd, base, strings.TrimSuffix(opt.Prefix, "/")); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return bw.Flush()
}

func relOrDot(rel string) string {
	if rel = strings.Trim(rel, "/"); rel == "" {
		return "."
	}
	return rel
}

type writer struct {
	tw    *tar.Writer
	opt   WriteOptions
	dev   uint64
	links map[[2]uint64]string // (dev, ino) → first name, for hard links
	buf   []byte
}

// writeHeader writes hdr, through opt.Header.
func (w *writer) writeHeader(hdr *tar.Header) error {
	if w.opt.Header != nil {
		w.opt.Header(hdr)
	}
	return w.tw.WriteHeader(hdr)
}

// entry writes name (below pfd) as tarName, and its children.
func (w *writer) entry(pfd int, name, tarName string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("stat %s: %w", tarName, err)
	}
	if w.opt.OneFilesystem && st.Dev != w.dev || w.opt.Exclude != nil && w.opt.Exclude(tarName, &st) {
		return nil
	}
	hdr := header(&st, tarName)
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		if w.opt.OverlayWhiteouts && st.Rdev == 0 {
			dir, base := path.Split(tarName)
			return w.writeHeader(&tar.Header{Name: dir + whiteoutPrefix + base, Typeflag: tar.TypeReg, Mode: 0o600, ModTime: hdr.ModTime, Format: tar.FormatPAX})
		}
	case unix.S_IFLNK:
		buf := make([]byte, unix.PathMax)
		n, err := unix.Readlinkat(pfd, name, buf)
		if err != nil {
			return fmt.Errorf("readlink %s: %w", tarName, err)
		}
		hdr.Linkname = string(buf[:n])
	case unix.S_IFREG:
		key := [2]uint64{st.Dev, st.Ino}
		if first, ok := w.links[key]; ok && st.Nlink > 1 {
			hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
			return w.writeHeader(hdr)
		}
		w.links[key] = tarName
		return w.file(pfd, name, hdr, &st)
	case unix.S_IFDIR:
		return w.dir(pfd, name, hdr)
	}
	return w.writeHeader(hdr)
}

func header(st *unix.Stat_t, name string) *tar.Header {
	hdr := &tar.Header{
		Name: name, Mode: int64(st.Mode & 0o7777), Uid: int(st.Uid), Gid: int(st.Gid),
		ModTime: time.Unix(st.Mtim.Sec, st.Mtim.Nsec), Format: tar.FormatPAX,
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		hdr.Typeflag = tar.TypeDir
	case unix.S_IFLNK:
		hdr.Typeflag = tar.TypeSymlink
	case unix.S_IFCHR:
		hdr.Typeflag, hdr.Devmajor, hdr.Devminor = tar.TypeChar, int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	case unix.S_IFBLK:
		hdr.Typeflag, hdr.Devmajor, hdr.Devminor = tar.TypeBlock, int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
	default:
		hdr.Typeflag, hdr.Size = tar.TypeReg, st.Size
	}
	return hdr
}

func (w *writer) file(pfd int, name string, hdr *tar.Header, st *unix.Stat_t) error {
	open := func() (*os.File, error) {
		fd, err := unix.Openat(pfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", hdr.Name, err)
		}
		return os.NewFile(uintptr(fd), hdr.Name), nil
	}
	if w.opt.Content != nil {
		sum, err := w.opt.Content(hdr.Name, st, open)
		if err != nil {
			return err
		}
		if hdr.PAXRecords == nil {
			hdr.PAXRecords = map[string]string{}
		}
		hdr.Size, hdr.PAXRecords[ContentRecord] = 0, sum
		return w.writeHeader(hdr)
	}
	f, err := open()
	if err != nil {
		return err
	}
	defer f.Close()
	if err := w.writeHeader(hdr); err != nil {
		return err
	}
	if w.buf == nil {
		w.buf = make([]byte, 256<<10)
	}
	n, err := io.CopyBuffer(w.tw, io.LimitReader(f, hdr.Size), w.buf)
	if err == nil && n < hdr.Size {
		err = errors.New("file shrank while being read")
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", hdr.Name, err)
	}
	return nil
}

func (w *writer) dir(pfd int, name string, hdr *tar.Header) error {
	fd, err := unix.Openat(pfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", hdr.Name, err)
	}
	d := os.NewFile(uintptr(fd), hdr.Name)
	defer d.Close()
	if hdr.Name != "" {
		hdr.Name += "/"
		if err := w.writeHeader(hdr); err != nil {
			return err
		}
	}
	if w.opt.OverlayWhiteouts {
		buf := make([]byte, 8)
		if n, err := unix.Fgetxattr(fd, w.opt.OpaqueXattr, buf); err == nil && string(buf[:n]) == "y" {
			if err := w.writeHeader(&tar.Header{Name: hdr.Name + opaqueMarker, Typeflag: tar.TypeReg, Mode: 0o600, ModTime: hdr.ModTime, Format: tar.FormatPAX}); err != nil {
				return err
			}
		}
	}
	names, err := d.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("read dir %s: %w", hdr.Name, err)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := w.entry(fd, n, hdr.Name+n); err != nil {
			return err
		}
	}
	return nil
}
