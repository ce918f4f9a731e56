package run

// The copy storage driver keeps no upper dir: a container writes to its
// own copy of the image. What it changed is found by comparing that copy
// with a snapshot taken before it ran (tug build's RUN on such a store):
// a file whose inode, size, mode, owner, mtime or ctime moved is changed,
// one gone is a whiteout.

import (
	"archive/tar"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"tug/store"
	"tug/store/archive"
)

// fileState is what a snapshot keeps of one entry.
type fileState struct {
	ino, size        uint64
	mode, uid, gid   uint32
	mtimeNs, ctimeNs int64
}

// Snapshot is a container's copied rootfs as it was, by relative path.
type Snapshot struct {
	files map[string]fileState
}

// copyRootfsDir is where the copy driver keeps a container's files.
func copyRootfsDir(s *store.Store, c *store.Container) string {
	return filepath.Join(s.ContainerDir(c.ID), "merged")
}

// TakeSnapshot copies the image's files for container c, if the copy
// driver has not yet, and records them. For other drivers it returns
// nil: their upper dir holds the changes already.
func TakeSnapshot(s *store.Store, c *store.Container) (*Snapshot, error) {
	cfg, err := ContainerConfig(c)
	if err != nil || cfg.Spec.Driver != DriverCopy {
		return nil, err
	}
	if err := withRootfs(s, c, func(int, *idView) error { return nil }); err != nil { // makes the copy
		return nil, err
	}
	snap := &Snapshot{files: map[string]fileState{}}
	err = walkStates(copyRootfsDir(s, c), func(rel string, st fileState) { snap.files[rel] = st })
	return snap, err
}

// walkStates calls fn for every entry below root, root itself left out.
func walkStates(root string, fn func(rel string, st fileState)) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fn(filepath.ToSlash(rel), fileState{ino: st.Ino, size: uint64(st.Size), mode: st.Mode, uid: st.Uid, gid: st.Gid,
			mtimeNs: st.Mtim.Nano(), ctimeNs: st.Ctim.Nano()})
		return nil
	})
}

// writeChanges gives sink what container c changed since snap, as the
// entries of an image layer: changed entries (with the directories
// above them), and a whiteout for each entry gone.
func writeChanges(s *store.Store, c *store.Container, sink archive.Sink, opt CommitOptions) error {
	snap, hdr := opt.Since, opt.Header
	root := copyRootfsDir(s, c)
	changed, keep := map[string]bool{}, map[string]bool{}
	seen := map[string]bool{}
	err := walkStates(root, func(rel string, st fileState) {
		seen[rel] = true
		if old, ok := snap.files[rel]; !ok || old != st {
			changed[rel] = true
			for d := path.Dir(rel); d != "."; d = path.Dir(d) {
				keep[d] = true
			}
		}
	})
	if err != nil {
		return fmt.Errorf("compare with the snapshot: %w", err)
	}
	fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	err = archive.WriteTo(fd, ".", sink, archive.WriteOptions{Header: hdr, Exclude: func(name string, st *unix.Stat_t) bool {
		rel := strings.TrimSuffix(name, "/")
		if rel == "" || rel == "." {
			return false
		}
		return opt.exclude(name, st) || !changed[rel] && !keep[rel]
	}})
	if err != nil {
		return err
	}
	for _, rel := range slices.Sorted(maps.Keys(snap.files)) { // sorted: the same layer each time
		if seen[rel] || !seen[path.Dir(rel)] && path.Dir(rel) != "." {
			continue // there still, or under a directory gone as a whole
		}
		dir, base := path.Split(rel)
		wh := &tar.Header{Name: dir + ".wh." + base, Typeflag: tar.TypeReg, Mode: 0o600, Format: tar.FormatPAX}
		if hdr != nil {
			hdr(wh)
		}
		if err := sink.Entry(wh, nil); err != nil {
			return err
		}
	}
	return nil
}
