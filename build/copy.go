package build

import (
	"archive/tar"
	"bufio"
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"golang.org/x/sys/unix"

	"tug/run/child"
	"tug/store"
	"tug/store/archive"
)

// copySpec is a COPY or an ADD.
type copySpec struct {
	instructions.SourcesAndDest
	from         string
	chown, chmod string
	add          bool
	link         bool   // --link: the destination's path is not resolved in the image
	checksum     string // ADD --checksum, of a URL's download
}

// copyPlan is a COPY or ADD with its sources found: what its cache key
// hashes and what its layer holds.
type copyPlan struct {
	src     tree
	srcs    []string
	dest    string
	intoDir bool
	fix     func(*tar.Header)
	extract bool // ADD: a context tar is unpacked at dest
}

// planCopy finds a COPY's sources: in the context, or with --from in a
// stage's or an image's filesystem. Every source is resolved inside its
// root (a symlink in its path stays inside) and written as it is: a
// symlink in the tree is copied as a link, never followed. The caller
// closes the plan.
func (st *state) planCopy(c copySpec) (*copyPlan, error) {
	chfix, err := headerFix(c.chown, c.chmod, st.lookupIDs)
	if err != nil {
		return nil, err
	}
	fix := func(h *tar.Header) { chfix(h); st.b.clamp(h) }
	var src tree
	switch {
	case len(c.SourceContents) > 0 && (len(c.SourcePaths) > 0 || c.from != ""):
		return nil, errors.New("a heredoc and other sources in one COPY are not supported by tug build")
	case len(c.SourceContents) > 0:
		src, err = st.heredocTree(c)
	case c.add && slices.ContainsFunc(c.SourcePaths, isURL):
		src, err = st.urlTree(c)
	case c.from != "":
		src, err = st.b.stageTree(c.from)
	default:
		src, err = st.b.contextTree()
	}
	if err != nil {
		return nil, err
	}
	srcs, err := st.sources(c, src)
	if err != nil {
		src.close()
		return nil, err
	}
	dest := c.DestPath
	if !path.IsAbs(dest) {
		dest = path.Join(cmp.Or(st.cf.Config.WorkingDir, "/"), dest)
	}
	intoDir := strings.HasSuffix(c.DestPath, "/") || len(srcs) > 1 || len(c.SourcePaths)+len(c.SourceContents) > 1
	if !c.link {
		// as docker does without --link: symlinks on the way followed
		// in the image, and a file copied into a directory there
		isDir := false
		if dest, isDir, err = st.resolve(dest); err != nil {
			src.close()
			return nil, err
		}
		intoDir = intoDir || isDir
	}
	ct, local := src.(*contextTree)
	extract := c.add && local && ct.heredocs == nil // a local archive ADD unpacks
	return &copyPlan{src: src, srcs: srcs, dest: dest, intoDir: intoDir, fix: fix, extract: extract}, nil
}

func (p *copyPlan) close() { p.src.close() }

// resolve is where the path p is in the image so far, every symlink on
// the way followed inside it, and whether it is a directory there.
func (st *state) resolve(p string) (string, bool, error) {
	return st.b.s.Resolve(store.ChainIDs(st.cf.RootFS.DiffIDs), p)
}

// hash is the digest of exactly what the layer would hold: names, types,
// modes, owners, sizes, link targets, xattrs and content (a context
// file's from the record of file hashes when it is unchanged), times
// left out.
func (p *copyPlan) hash() (string, error) {
	h := sha256.New()
	normalize := func(hdr *tar.Header) {
		p.fix(hdr)
		hdr.ModTime, hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{}, time.Time{}
		for _, k := range []string{"mtime", "atime", "ctime"} {
			delete(hdr.PAXRecords, k)
		}
		hdr.Format = tar.FormatPAX
	}
	ts := archive.NewTarSink(h)
	if err := p.fill(ts, normalize, true); err != nil {
		return "", err
	}
	if err := ts.Close(); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// copy appends the plan's layer, without a container: the store writes
// its tar and unpacks it in one pass over the sources.
func (st *state) copy(p *copyPlan, text string) error {
	var parent v1.Hash
	if ids := st.cf.RootFS.DiffIDs; len(ids) > 0 {
		parent = store.ChainIDs(ids)[len(ids)-1]
	}
	layer, err := st.b.s.CreateLayer(parent, func(sink archive.Sink) error { return p.fill(sink, p.fix, false) })
	if err != nil {
		return err
	}
	img, err := mutate.ConfigFile(st.img, st.cf)
	if err != nil {
		return err
	}
	if img, err = mutate.Append(img, mutate.Addendum{Layer: layer}); err != nil {
		return err
	}
	return st.setLayered(img, text)
}

// lookupIDs resolves --chown's names with the image so far: its
// /etc/passwd and /etc/group.
func (st *state) lookupIDs(spec string) (int, int, error) {
	img, err := mutate.ConfigFile(st.img, st.cf)
	if err != nil {
		return 0, 0, err
	}
	t, err := st.b.imageTree(img, "the image")
	if err != nil {
		return 0, 0, err
	}
	defer t.close()
	passwd, err := readTreeFile(t, "etc/passwd")
	if err != nil {
		return 0, 0, err
	}
	group, err := readTreeFile(t, "etc/group")
	if err != nil {
		return 0, 0, err
	}
	id, err := child.ResolveUser(spec, bytes.NewReader(passwd), bytes.NewReader(group))
	if !strings.Contains(spec, ":") {
		id.GID = id.UID
	}
	return id.UID, id.GID, err
}

// readTreeFile reads the file p of t, nothing if it has none.
func readTreeFile(t tree, p string) ([]byte, error) {
	if found, err := t.glob(p); err != nil || len(found) == 0 {
		return nil, err
	}
	var data []byte
	err := t.write(p, "f", archive.SinkFunc(func(_ *tar.Header, r io.Reader) (err error) {
		if r != nil {
			data, err = io.ReadAll(r)
		}
		return err
	}), func(*tar.Header) {}, false)
	return data, err
}

// heredocTree is a COPY's heredocs, as files of a directory of the
// build's (their content expanded when the heredoc says so), read as a
// context is.
func (st *state) heredocTree(c copySpec) (tree, error) {
	dir := st.b.tempFile("heredoc")
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, err
	}
	lex := shell.NewLex(st.b.df.Escape)
	env := shell.EnvsFromSlice(st.env())
	for _, sc := range c.SourceContents {
		data := sc.Data
		if sc.Expand {
			res, err := lex.ProcessWordWithMatches(data, env)
			if err != nil {
				return nil, err
			}
			data = res.Result
		}
		name := path.Base(path.Clean("/" + sc.Path))
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			return nil, err
		}
		c.SourcePaths = append(c.SourcePaths, name)
	}
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return &contextTree{dir: dir, fd: fd, heredocs: c.SourcePaths}, nil
}

// sources are the paths the sources name in src, wildcards expanded in
// the context; one outside the context, or that names nothing, is an
// error.
func (st *state) sources(c copySpec, src tree) ([]string, error) {
	if ct, ok := src.(*contextTree); ok && ct.heredocs != nil {
		return ct.heredocs, nil
	}
	var out []string
	for _, p := range c.SourcePaths {
		rel := filepath.Clean(p)
		if c.from == "" && (rel == ".." || strings.HasPrefix(rel, "../")) {
			return nil, fmt.Errorf("%s: forbidden path outside the build context", p)
		}
		rel = strings.TrimPrefix(filepath.Clean("/"+rel), "/")
		matches, err := src.glob(rel)
		if err != nil {
			return nil, err
		}
		if len(matches) == 0 {
			return nil, fmt.Errorf("%s: not found in %s", p, src.what())
		}
		out = append(out, matches...)
	}
	return out, nil
}

// fill gives sink the entries of the plan's layer, each header through
// fix: each source's tree at dest (a directory's content into dest, a
// file as dest, or into it when intoDir). keyed, they are what the cache
// key digests.
func (p *copyPlan) fill(sink archive.Sink, fix func(*tar.Header), keyed bool) error {
	for _, src := range p.srcs {
		dir, err := p.src.isDir(src)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(p.dest, "/")
		if !dir && p.intoDir {
			name = path.Join(name, path.Base(src))
		}
		if name == "" {
			name = "."
		}
		if p.extract && !keyed {
			rc, ok, err := p.src.(*contextTree).openArchive(src)
			if err != nil {
				return err
			}
			if ok {
				err = appendTar(sink, rc, func(h *tar.Header) { below(h, p.dest); fix(h) })
				rc.Close()
				if err != nil {
					return fmt.Errorf("%s: %w", src, err)
				}
				continue
			}
		}
		if err := p.src.write(src, name, sink, fix, keyed); err != nil {
			return fmt.Errorf("%s: %w", src, err)
		}
	}
	return nil
}

// appendTar gives sink the entries of the tar r, each header passed
// through fix; one whose name fix empties is left out.
func appendTar(sink archive.Sink, r io.Reader, fix func(*tar.Header)) error {
	tr := tar.NewReader(bufio.NewReaderSize(r, 256<<10))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read tar: %w", err)
		}
		if fix(hdr); hdr.Name == "" {
			continue
		}
		if err := sink.Entry(hdr, tr); err != nil {
			return err
		}
	}
}

// headerFix applies --chown USER[:GROUP] and --chmod OCTAL to each
// entry. Numbers stand for themselves; names are looked up (lookup
// reads the image's /etc/passwd and /etc/group); a user without a group
// gets its UID as GID, as docker has it.
func headerFix(chown, chmod string, lookup func(spec string) (int, int, error)) (func(*tar.Header), error) {
	uid, gid := -1, -1
	if chown != "" {
		u, g, hasGroup := strings.Cut(chown, ":")
		var uerr, gerr error
		uid, uerr = strconv.Atoi(u)
		gid, gerr = uid, nil
		if hasGroup {
			gid, gerr = strconv.Atoi(g)
		}
		if uerr != nil || gerr != nil {
			if lookup == nil {
				return nil, fmt.Errorf("--chown=%s: no image to look names up in", chown)
			}
			var err error
			if uid, gid, err = lookup(chown); err != nil {
				return nil, fmt.Errorf("--chown=%s: %w", chown, err)
			}
		}
	}
	mode := int64(-1)
	if chmod != "" {
		m, err := strconv.ParseUint(chmod, 8, 32)
		if err != nil || m > 0o7777 {
			return nil, fmt.Errorf("--chmod=%s: want an octal mode", chmod)
		}
		mode = int64(m)
	}
	return func(h *tar.Header) {
		if uid >= 0 {
			h.Uid, h.Gid, h.Uname, h.Gname = uid, gid, "", ""
		}
		if mode >= 0 && h.Typeflag != tar.TypeSymlink {
			h.Mode = h.Mode&^0o7777 | mode
		}
	}, nil
}
