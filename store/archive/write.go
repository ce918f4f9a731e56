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
	"sync"
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
	// Descend, if set, walks a directory Exclude leaves out when it is
	// true for it (something below may be let back in: a .dockerignore
	// !exception). The directory's own entry is written only if one
	// below it is.
	Descend func(name string) bool
	// Header, if set, may change each header before it is written
	// (tug build clamps times with it).
	Header func(*tar.Header)
	// ReadAhead reads files ahead of the walk, several at once: a cold
	// tree of many small files is read in a fraction of the time one
	// read after another takes.
	ReadAhead bool
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
// w as a tar (see WriteTo). Output is buffered, as Apply's input is: a
// tar of many small files through a pipe would otherwise cross to the
// reader a header or a file at a time.
func Write(dir int, rel string, w io.Writer, opt WriteOptions) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	ts := NewTarSink(bw)
	if err := WriteTo(dir, rel, ts, opt); err != nil {
		return err
	}
	if err := ts.Close(); err != nil {
		return err
	}
	return bw.Flush()
}

// WriteTo walks the tree at rel below the directory fd dir and gives its
// entries to sink. Every step is relative to an fd and nothing is
// followed, so a symlink in the tree is written as a symlink and never
// leads the walk outside it. Hard links to one inode become tar hard
// links.
func WriteTo(dir int, rel string, sink Sink, opt WriteOptions) error {
	if opt.OpaqueXattr == "" {
		opt.OpaqueXattr = "trusted.overlay.opaque"
	}
	wr := &writer{sink: sink, opt: opt, links: map[[2]uint64]string{}, ahead: make(chan struct{}, readAheadDirs)}
	defer wr.wg.Wait()
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
	return wr.entry(pfd, base, strings.TrimSuffix(opt.Prefix, "/"))
}

func relOrDot(rel string) string {
	if rel = strings.Trim(rel, "/"); rel == "" {
		return "."
	}
	return rel
}

type writer struct {
	sink  Sink
	opt   WriteOptions
	dev   uint64
	links map[[2]uint64]string // (dev, ino) → first name, for hard links
	ahead chan struct{}        // a slot per directory being read ahead
	held  []*tar.Header        // the entries of left-out directories being walked, outermost first
	wg    sync.WaitGroup       // the read-ahead goroutines
}

// readAheadDirs is how many directories are read ahead at once.
const readAheadDirs = 8

// writeHeader gives the sink hdr, through opt.Header, with the content
// r holds (nil for all but regular files).
// The left-out directories it is below are written first.
func (w *writer) writeHeader(hdr *tar.Header, r io.Reader) error {
	held := w.held
	w.held = nil
	for _, h := range held {
		if err := w.writeHeader(h, nil); err != nil {
			return err
		}
	}
	if w.opt.Header != nil {
		w.opt.Header(hdr)
	}
	return w.sink.Entry(hdr, r)
}

// entry writes name (below pfd) as tarName, and its children.
func (w *writer) entry(pfd int, name, tarName string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("stat %s: %w", tarName, err)
	}
	if w.opt.OneFilesystem && st.Dev != w.dev {
		return nil
	}
	if w.opt.Exclude != nil && w.opt.Exclude(tarName, &st) {
		if st.Mode&unix.S_IFMT == unix.S_IFDIR && w.opt.Descend != nil && w.opt.Descend(tarName) {
			return w.dir(pfd, name, header(&st, tarName), true)
		}
		return nil
	}
	hdr := header(&st, tarName)
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		if w.opt.OverlayWhiteouts && st.Rdev == 0 {
			dir, base := path.Split(tarName)
			return w.writeHeader(&tar.Header{Name: dir + whiteoutPrefix + base, Typeflag: tar.TypeReg, Mode: 0o600, ModTime: hdr.ModTime, Format: tar.FormatPAX}, nil)
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
			return w.writeHeader(hdr, nil)
		}
		w.links[key] = tarName
		return w.file(pfd, name, hdr, &st)
	case unix.S_IFDIR:
		return w.dir(pfd, name, hdr, false)
	}
	return w.writeHeader(hdr, nil)
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
		return w.writeHeader(hdr, nil)
	}
	f, err := open()
	if err != nil {
		return err
	}
	defer f.Close()
	content := &io.LimitedReader{R: f, N: hdr.Size}
	err = w.writeHeader(hdr, content)
	if err == nil && content.N > 0 {
		err = errors.New("file shrank while being read")
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", hdr.Name, err)
	}
	return nil
}

// dir writes the directory name and its children; held, its entry
// waits until one below it is written.
func (w *writer) dir(pfd int, name string, hdr *tar.Header, held bool) error {
	fd, err := unix.Openat(pfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", hdr.Name, err)
	}
	d := os.NewFile(uintptr(fd), hdr.Name)
	defer d.Close()
	if hdr.Name != "" {
		hdr.Name += "/"
		if held {
			w.held = append(w.held, hdr)
			defer func() {
				if n := len(w.held); n > 0 && w.held[n-1] == hdr {
					w.held = w.held[:n-1] // nothing below was written
				}
			}()
		} else if err := w.writeHeader(hdr, nil); err != nil {
			return err
		}
	}
	if w.opt.OverlayWhiteouts {
		buf := make([]byte, 8)
		if n, err := unix.Fgetxattr(fd, w.opt.OpaqueXattr, buf); err == nil && string(buf[:n]) == "y" {
			if err := w.writeHeader(&tar.Header{Name: hdr.Name + opaqueMarker, Typeflag: tar.TypeReg, Mode: 0o600, ModTime: hdr.ModTime, Format: tar.FormatPAX}, nil); err != nil {
				return err
			}
		}
	}
	entries, err := d.ReadDir(-1)
	if err != nil {
		return fmt.Errorf("read dir %s: %w", hdr.Name, err)
	}
	names, files := make([]string, len(entries)), []string(nil)
	for i, e := range entries {
		names[i] = e.Name()
		if e.Type().IsRegular() {
			files = append(files, e.Name())
		}
	}
	sort.Strings(names)
	if w.opt.ReadAhead && len(files) > 1 {
		w.readAhead(fd, files)
	}
	for _, n := range names {
		if err := w.entry(fd, n, hdr.Name+n); err != nil {
			return err
		}
	}
	return nil
}

// readAhead asks the kernel to read the regular files names of the
// directory fd into the page cache, from a goroutine that opens each and
// returns at once: the reads are queued together and the walk behind it
// finds them done.
func (w *writer) readAhead(fd int, names []string) {
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return // only slower
	}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer unix.Close(dup)
		w.ahead <- struct{}{}
		defer func() { <-w.ahead }()
		for _, n := range names {
			// O_NONBLOCK: what turned into a FIFO since never blocks
			f, err := unix.Openat(dup, n, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
			if err != nil {
				continue
			}
			unix.Fadvise(f, 0, 0, unix.FADV_WILLNEED)
			unix.Close(f)
		}
	}()
}
