package build

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"golang.org/x/sys/unix"

	"tug/store/archive"
)

// copySpec is a COPY or an ADD.
type copySpec struct {
	instructions.SourcesAndDest
	from         string
	chown, chmod string
	add          bool
}

// copy writes a layer of the sources, taken from the context, at the
// destination, without a container. Every source is resolved inside
// the context (a symlink in its path stays inside it) and written as
// it is: a symlink in the tree is copied as a link, never followed.
func (st *state) copy(c copySpec, text string) error {
	if c.from != "" {
		return errors.New("COPY --from is not supported by tug build yet")
	}
	if len(c.SourceContents) > 0 {
		return errors.New("heredocs are not supported by tug build yet")
	}
	fix, err := headerFix(c.chown, c.chmod)
	if err != nil {
		return err
	}
	ctxDir, err := unix.Open(st.b.opt.Context, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open the context: %w", err)
	}
	defer unix.Close(ctxDir)
	srcs, err := st.sources(c)
	if err != nil {
		return err
	}
	dest := c.DestPath
	if !path.IsAbs(dest) {
		dest = path.Join(firstNonEmpty(st.cf.Config.WorkingDir, "/"), dest)
	}
	intoDir := strings.HasSuffix(c.DestPath, "/") || len(srcs) > 1 || len(c.SourcePaths) > 1
	st.b.files++
	layerPath := filepath.Join(st.b.tmp, fmt.Sprintf("layer%d.tar", st.b.files))
	if err := writeCopyLayer(layerPath, ctxDir, srcs, dest, intoDir, fix); err != nil {
		return err
	}
	layer, err := tarball.LayerFromFile(layerPath)
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

// sources are the context paths the sources name, wildcards expanded;
// one outside the context, or that matches nothing, is an error.
func (st *state) sources(c copySpec) ([]string, error) {
	var out []string
	for _, src := range c.SourcePaths {
		if c.add && (strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://")) {
			return nil, fmt.Errorf("ADD %s: URLs are not supported by tug build yet", src)
		}
		rel := filepath.Clean(src)
		if rel == ".." || strings.HasPrefix(rel, "../") {
			return nil, fmt.Errorf("%s: forbidden path outside the build context", src)
		}
		rel = strings.TrimPrefix(filepath.Clean("/"+rel), "/")
		if !strings.ContainsAny(rel, "*?[") {
			if _, err := os.Lstat(filepath.Join(st.b.opt.Context, rel)); err != nil {
				return nil, fmt.Errorf("%s: not found in the build context", src)
			}
			out = append(out, rel)
			continue
		}
		matches, err := filepath.Glob(filepath.Join(st.b.opt.Context, rel))
		if err != nil || len(matches) == 0 {
			return nil, fmt.Errorf("%s: no source files were specified", src)
		}
		for _, m := range matches {
			r, err := filepath.Rel(st.b.opt.Context, m)
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
	}
	return out, nil
}

// writeCopyLayer writes the layer tar of a COPY: each source's tree at
// dest (a directory's content into dest, a file as dest, or into it
// when intoDir), each header passed through fix.
func writeCopyLayer(out string, ctxDir int, srcs []string, dest string, intoDir bool, fix func(*tar.Header)) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	for _, src := range srcs {
		if err := copyTree(tw, ctxDir, src, dest, intoDir, fix); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return f.Close()
}

// copyTree appends the tree of one source to tw.
func copyTree(tw *tar.Writer, ctxDir int, src, dest string, intoDir bool, fix func(*tar.Header)) error {
	parent, base := path.Split(src)
	pfd, err := unix.Openat2(ctxDir, dirOrDot(parent), &unix.OpenHow{
		Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	defer unix.Close(pfd)
	var stat unix.Stat_t
	if err := unix.Fstatat(pfd, dirOrDot(base), &stat, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	name := strings.TrimPrefix(dest, "/")
	if stat.Mode&unix.S_IFMT != unix.S_IFDIR && intoDir {
		name = path.Join(name, path.Base(src))
	}
	if name == "" {
		name = "."
	}
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(archive.Write(pfd, dirOrDot(base), pw, archive.WriteOptions{Prefix: name}))
	}()
	err = appendTar(tw, pr, fix)
	pr.CloseWithError(err)
	return err
}

func dirOrDot(d string) string {
	if d = strings.Trim(d, "/"); d == "" {
		return "."
	}
	return d
}

// appendTar copies the entries of the tar r into tw, each header passed
// through fix.
func appendTar(tw *tar.Writer, r io.Reader, fix func(*tar.Header)) error {
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		fix(hdr)
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
}

// headerFix applies --chown UID[:GID] and --chmod OCTAL to each entry.
// Names for --chown need the image's /etc/passwd, which tug build does
// not read yet.
func headerFix(chown, chmod string) (func(*tar.Header), error) {
	uid, gid := -1, -1
	if chown != "" {
		u, g, hasGroup := strings.Cut(chown, ":")
		var err error
		if uid, err = strconv.Atoi(u); err != nil {
			return nil, fmt.Errorf("--chown=%s: only numeric IDs are supported by tug build yet", chown)
		}
		gid = uid
		if hasGroup {
			if gid, err = strconv.Atoi(g); err != nil {
				return nil, fmt.Errorf("--chown=%s: only numeric IDs are supported by tug build yet", chown)
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
