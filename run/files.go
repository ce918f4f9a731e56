package run

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"golang.org/x/sys/unix"

	"tug/internal/userns"
	"tug/run/child"
	"tug/store"
	"tug/store/archive"
)

// PathInfo says what a path in a container is.
type PathInfo struct {
	Exists  bool
	IsDir   bool
	Size    int64
	Mode    os.FileMode
	ModTime time.Time
}

// Stat tells whether p exists in the container and is a directory.
func Stat(s *store.Store, c *store.Container, p string) (PathInfo, error) {
	var info PathInfo
	err := withRootfs(s, c, func(root int, _ *idView) error {
		fd, err := child.OpenIn(root, dirOrDot(path.Clean("/"+p)), unix.O_PATH)
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return err
		}
		info = PathInfo{Exists: true, IsDir: st.Mode&unix.S_IFMT == unix.S_IFDIR, Size: st.Size,
			Mode: fileMode(st.Mode), ModTime: time.Unix(st.Mtim.Unix())}
		return nil
	})
	return info, err
}

// fileMode is a stat(2) mode as Go's.
func fileMode(m uint32) os.FileMode {
	mode := os.FileMode(m & 0o777)
	switch m & unix.S_IFMT {
	case unix.S_IFDIR:
		mode |= os.ModeDir
	case unix.S_IFLNK:
		mode |= os.ModeSymlink
	case unix.S_IFIFO:
		mode |= os.ModeNamedPipe
	case unix.S_IFSOCK:
		mode |= os.ModeSocket
	case unix.S_IFCHR:
		mode |= os.ModeDevice | os.ModeCharDevice
	case unix.S_IFBLK:
		mode |= os.ModeDevice
	}
	if m&unix.S_ISUID != 0 {
		mode |= os.ModeSetuid
	}
	if m&unix.S_ISGID != 0 {
		mode |= os.ModeSetgid
	}
	if m&unix.S_ISVTX != 0 {
		mode |= os.ModeSticky
	}
	return mode
}

// Glob lists the paths in the container that pattern (path.Match
// wildcards in any element) matches, sorted and relative to its root,
// each directory resolved inside the container.
func Glob(s *store.Store, c *store.Container, pattern string) ([]string, error) {
	var out []string
	err := withRootfs(s, c, func(root int, _ *idView) (err error) {
		out, err = archive.Glob(root, strings.TrimPrefix(path.Clean("/"+pattern), "/"))
		return err
	})
	return out, err
}

// CopyOut writes the file or tree at src in the container to w as a tar
// whose top entry is named name. src is resolved inside the container: a
// symlink on the way, absolute or not, never leads outside it, and links
// in the tree are written as links, never followed.
func CopyOut(s *store.Store, c *store.Container, src, name string, w io.Writer) error {
	return withRootfs(s, c, func(root int, view *idView) error {
		clean := strings.TrimPrefix(path.Clean("/"+src), "/")
		dir, base := path.Split(clean)
		if base == "" {
			base = "."
		}
		pfd, err := child.OpenIn(root, dirOrDot(dir), unix.O_PATH|unix.O_DIRECTORY)
		if err != nil {
			return fmt.Errorf("%s:%s: %w", c.Name, src, err)
		}
		defer unix.Close(pfd)
		return archive.Write(pfd, base, w, archive.WriteOptions{Prefix: name, Header: view.header()})
	})
}

func dirOrDot(d string) string {
	if d = strings.Trim(d, "/"); d == "" {
		return "."
	}
	return d
}

// CopyIn unpacks the tar r into the directory dst of the container,
// resolved inside it; entries are confined to it, and owned by the
// container's root.
func CopyIn(s *store.Store, c *store.Container, dst string, r io.Reader) error {
	return withRootfs(s, c, func(root int, view *idView) error {
		fd, err := child.OpenIn(root, dirOrDot(path.Clean("/"+dst)), unix.O_PATH|unix.O_DIRECTORY)
		if err != nil {
			return fmt.Errorf("%s:%s: %w", c.Name, dst, err)
		}
		defer unix.Close(fd)
		owner := view.root()
		_, err = archive.Apply(child.FDPath(fd), r, archive.Options{Umask: s.Umask(), Literal: true, Chown: owner != nil, Owner: owner})
		return err
	})
}

// Export writes the container's root filesystem to w as a tar, without
// what is mounted on it (/proc, /sys, /dev, binds).
func Export(s *store.Store, c *store.Container, w io.Writer) error {
	return withRootfs(s, c, func(root int, view *idView) error {
		return archive.Write(root, ".", w, archive.WriteOptions{OneFilesystem: true, Header: view.header()})
	})
}

// Change is one line of tug diff.
type Change struct {
	Kind string // A added, C changed, D deleted
	Path string
}

// Diff lists what the container changed against its image, from its
// upper dir: whiteouts are deletions, paths the image has are changes,
// the rest additions.
func Diff(s *store.Store, c *store.Container) ([]Change, error) {
	cfg, err := ContainerConfig(c)
	if err != nil {
		return nil, err
	}
	spec := cfg.Spec
	if err := needUpper(c, &spec); err != nil {
		return nil, err
	}
	if err := overlayPaths(s, c, &spec); err != nil {
		return nil, err
	}
	var out []Change
	err = filepath.WalkDir(spec.Upper, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == spec.Upper {
			return err
		}
		rel := "/" + strings.TrimPrefix(p, spec.Upper+"/")
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		if mountPoint(rel[1:], &st) {
			return nil
		}
		// fuse-overlayfs may mark an opaque dir with a whiteout of
		// .wh..opq, or record a deletion as a .wh.NAME file, as layers do
		dir, base := path.Split(rel)
		if st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0 {
			if !strings.HasPrefix(base, ".wh.") {
				out = append(out, Change{"D", rel})
			}
			return nil
		}
		if strings.HasPrefix(base, ".wh.") {
			if hidden := strings.TrimPrefix(base, ".wh."); hidden != ".wh..opq" {
				out = append(out, Change{"D", dir + hidden})
			}
			return nil
		}
		kind := "A"
		if inLayers(&spec, rel) {
			kind = "C"
		}
		out = append(out, Change{kind, rel})
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, err
}

// mountPoint tells whether name (relative to the root) is one of the
// mount points tug makes in every container, still empty: such paths are
// tug's, not changes the container made.
// exclude leaves out of a committed layer the mount points tug made:
// its own, and those opt.Skip names.
func (opt CommitOptions) exclude(name string, st *unix.Stat_t) bool {
	return mountPoint(name, st) || slices.Contains(opt.Skip, strings.TrimSuffix(name, "/")) && emptyEntry(st)
}

// emptyEntry is an empty file or a directory with nothing in it: what a
// mount point leaves.
func emptyEntry(st *unix.Stat_t) bool {
	return st.Size == 0 || st.Mode&unix.S_IFMT == unix.S_IFDIR && st.Nlink <= 2
}

func mountPoint(name string, st *unix.Stat_t) bool {
	if dir, base := path.Split(name); strings.HasPrefix(base, ".wh.") && (dir == "dev/" || dir == "proc/" || dir == "sys/") {
		return true // fuse-overlayfs' marks under tug's mounts
	}
	switch strings.TrimSuffix(name, "/") {
	case "proc", "sys", "dev", "run", "etc/hosts", "etc/hostname", "etc/resolv.conf", "run/.containerenv":
		return emptyEntry(st)
	}
	return false
}

// inLayers tells whether rel exists in one of the image's layers.
func inLayers(spec *Spec, rel string) bool {
	for _, l := range spec.Lower {
		if _, err := os.Lstat(filepath.Join(spec.LayerDir, l, rel)); err == nil {
			return true
		}
	}
	return false
}

// CommitOptions describe the image commit makes.
type CommitOptions struct {
	Name    string // canonical name, or "" for a dangling image
	Author  string
	Message string
	Change  func(*v1.Config)  // if set, changes the image's config (commit --change)
	Header  func(*tar.Header) // if set, may change each header of the layer (tug build's clamped times)
	Skip    []string          // mount points (relative paths) left out when empty: tug build's RUN --mount targets
	// Uncompressed stores the layer as a plain tar (tug build's, whose
	// layers are many and local): no gzip on the way in.
	Uncompressed bool
	// Since, for a container of the copy driver, is the snapshot its
	// changes are found against (TakeSnapshot, before it ran).
	Since *Snapshot
}

// Commit makes a new image from the container: its image's layers plus
// one layer from its upper dir, with overlay whiteouts turned back into
// the .wh. entries of image layers.
func Commit(ctx context.Context, s *store.Store, c *store.Container, opt CommitOptions) (*store.Image, error) {
	cfg, err := ContainerConfig(c)
	if err != nil {
		return nil, err
	}
	if err := needUpper(c, &cfg.Spec); err != nil && opt.Since == nil {
		return nil, err
	}
	base, err := s.LookupImage(c.Image.Hex)
	if err != nil {
		return nil, err
	}
	baseImg, err := s.V1Image(base)
	if err != nil {
		return nil, err
	}
	write := writeUpper
	if opt.Since != nil {
		write = writeChanges
	}
	layer, done, err := commitLayer(s, base, func(sink archive.Sink) error { return write(s, c, sink, opt) }, opt.Uncompressed)
	if err != nil {
		return nil, err
	}
	defer done()
	now := time.Now().UTC()
	img, err := mutate.Append(baseImg, mutate.Addendum{Layer: layer, History: v1.History{
		Created: v1.Time{Time: now}, CreatedBy: "tug commit " + c.Name, Author: opt.Author, Comment: opt.Message,
	}})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Created, cf.Author = v1.Time{Time: now}, opt.Author
	if opt.Change != nil {
		opt.Change(&cf.Config)
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return nil, err
	}
	add := store.AddOptions{}
	if opt.Name != "" {
		add.Names = []string{opt.Name}
	}
	return s.AddImage(ctx, img, add)
}

// needUpper refuses what needs the container's changes apart from its
// image's files, which the copy storage driver does not keep.
func needUpper(c *store.Container, spec *Spec) error {
	if spec.Driver == DriverCopy {
		return fmt.Errorf("container %s uses the copy storage driver, which keeps no record of its changes: diff and commit need overlay or fuse-overlayfs", c.Name)
	}
	return nil
}

// commitLayer makes the layer of the entries fill gives: uncompressed,
// stored at once (written and unpacked in one pass); else a tar in a
// temporary file, gzipped as adding the image stores it, which done
// removes.
func commitLayer(s *store.Store, base *store.Image, fill func(archive.Sink) error, uncompressed bool) (layer v1.Layer, done func(), err error) {
	if uncompressed {
		var parent v1.Hash
		if n := len(base.Layers); n > 0 {
			parent = base.Layers[n-1]
		}
		layer, err := s.CreateLayer(parent, fill)
		return layer, func() {}, err
	}
	tmp, done, err := s.TempDir()
	if err != nil {
		return nil, nil, err
	}
	if layer, err = tarLayer(filepath.Join(tmp, "layer.tar"), fill); err != nil {
		done()
		return nil, nil, err
	}
	return layer, done, nil
}

// tarLayer writes fill's entries to the tar file name, a layer.
func tarLayer(name string, fill func(archive.Sink) error) (v1.Layer, error) {
	f, err := os.Create(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 256<<10)
	ts := archive.NewTarSink(bw)
	if err := fill(ts); err != nil {
		return nil, fmt.Errorf("write layer: %w", err)
	}
	if err := errors.Join(ts.Close(), bw.Flush(), f.Close()); err != nil {
		return nil, fmt.Errorf("write layer: %w", err)
	}
	return tarball.LayerFromFile(name)
}

// writeUpper gives sink the container's upper dir as image layer
// entries.
func writeUpper(s *store.Store, c *store.Container, sink archive.Sink, opt CommitOptions) error {
	upper, err := unix.Open(filepath.Join(s.ContainerDir(c.ID), "upper"), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open upper dir: %w", err)
	}
	defer unix.Close(upper)
	opaque := "" // trusted.overlay.opaque
	if userns.Inside() {
		opaque = "user.overlay.opaque" // overlayfs with userxattr, and fuse-overlayfs
	}
	return archive.WriteTo(upper, ".", sink, archive.WriteOptions{OverlayWhiteouts: true, OpaqueXattr: opaque, Header: opt.Header, Exclude: opt.exclude})
}

// Copy is tug cp SRC DST, docker's path rules: one side is
// CONTAINER:PATH, the other a host path or "-" (a tar on stdin or
// stdout).
func Copy(s *store.Store, src, dst string, stdin io.Reader, stdout io.Writer) error {
	if ref, p, ok := ContainerPath(src); ok {
		ctr, err := s.LookupContainer(ref)
		if err != nil {
			return err
		}
		return copyOut(s, ctr, p, dst, stdout)
	}
	if ref, p, ok := ContainerPath(dst); ok {
		ctr, err := s.LookupContainer(ref)
		if err != nil {
			return err
		}
		return copyIn(s, ctr, src, p, stdin)
	}
	return fmt.Errorf("cp: one of the two paths must be CONTAINER:PATH")
}

// ContainerPath splits CONTAINER:PATH; a host path has no colon before
// its first slash.
func ContainerPath(arg string) (string, string, bool) {
	ref, p, ok := strings.Cut(arg, ":")
	if !ok || ref == "" || strings.Contains(ref, "/") {
		return "", "", false
	}
	return ref, p, true
}

// copyOut copies a container path to the host as docker does: into DEST
// if it is a directory, else as DEST itself; "-" writes a tar to stdout.
func copyOut(s *store.Store, ctr *store.Container, src, dst string, stdout io.Writer) error {
	if dst == "-" {
		return CopyOut(s, ctr, src, filepath.Base(filepath.Clean("/"+src)), stdout)
	}
	dir, name := dst, filepath.Base(filepath.Clean("/"+src))
	if fi, err := os.Stat(dst); err != nil || !fi.IsDir() {
		dir, name = filepath.Dir(dst), filepath.Base(dst)
	}
	if name == "/" {
		name = "."
	}
	pr, pw := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		_, err := archive.Apply(dir, pr, archive.Options{Umask: s.Umask(), Chown: os.Geteuid() == 0, Literal: true})
		pr.CloseWithError(err)
		errc <- err
	}()
	err := CopyOut(s, ctr, src, name, pw)
	pw.CloseWithError(err)
	if aerr := <-errc; err == nil {
		err = aerr
	}
	return err
}

// copyIn copies a host path (or a tar on stdin, "-") into a container.
func copyIn(s *store.Store, ctr *store.Container, src, dst string, stdin io.Reader) error {
	if src == "-" {
		return CopyIn(s, ctr, dst, stdin)
	}
	info, err := Stat(s, ctr, dst)
	if err != nil {
		return err
	}
	dir, name := dst, filepath.Base(src)
	if !info.IsDir {
		dir, name = filepath.Dir(dst), filepath.Base(dst)
	}
	parent, err := unix.Open(filepath.Dir(src), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("cp: %s: %w", src, err)
	}
	defer unix.Close(parent)
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(archive.Write(parent, filepath.Base(src), pw, archive.WriteOptions{Prefix: name}))
	}()
	err = CopyIn(s, ctr, dir, pr)
	pr.CloseWithError(err)
	return err
}

// copyUp gives each volume that this create made (empty, so new) the
// content of the image's directory it is mounted over, with owners,
// modes and xattrs, as docker does, unless nocopy. The directory is
// read from the container's rootfs through the same resolution inside
// it as everything else: a symlink in the image never leads the copy
// out of it. An image without that directory leaves the volume empty.
func copyUp(s *store.Store, c *store.Container, mounts []Mount, vols []*store.Volume) error {
	fresh := map[string]*store.Volume{}
	for _, v := range vols {
		if v.New {
			fresh[v.Name] = v
		}
	}
	for _, m := range mounts {
		v := fresh[m.Volume]
		if v == nil || m.NoCopy {
			continue
		}
		done, err := s.BeginCopyUp(m.Volume)
		if err != nil {
			return err
		}
		err = copyDirUp(s, c, m.Destination, v)
		if err != nil {
			return fmt.Errorf("copy %s into volume %s: %w", m.Destination, m.Volume, err)
		}
		done() // only a whole copy ends the mark
	}
	return nil
}

// copyDirUp copies the image's dst into volume v; a volume that names a
// filesystem gets it mounted, in the copy's own mount namespace.
func copyDirUp(s *store.Store, c *store.Container, dst string, v *store.Volume) error {
	return withRootfs(s, c, func(root int, _ *idView) error {
		fd, err := child.OpenIn(root, dirOrDot(path.Clean("/"+dst)), unix.O_PATH|unix.O_DIRECTORY)
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
			return nil
		}
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := s.MountVolume(v); err != nil {
			return err
		}
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(archive.Write(fd, ".", pw, archive.WriteOptions{Prefix: "."})) }()
		_, err = archive.Apply(s.VolumeData(v.Name), pr, archive.Options{Umask: s.Umask(), Chown: os.Geteuid() == 0, Literal: true})
		pr.CloseWithError(err)
		return err
	})
}
