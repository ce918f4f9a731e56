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
)

// copySpec is a COPY or an ADD.
type copySpec struct {
	instructions.SourcesAndDest
	from         string
	chown, chmod string
	add          bool
}

// copy writes a layer of the sources at the destination, without
// running a container: taken from the context, or with --from from a
// stage or an image. Every source is resolved inside its root (a
// symlink in its path stays inside) and written as it is: a symlink in
// the tree is copied as a link, never followed.
func (st *state) copy(c copySpec, text string) error {
	if len(c.SourceContents) > 0 {
		return errors.New("heredocs are not supported by tug build yet")
	}
	fix, err := headerFix(c.chown, c.chmod)
	if err != nil {
		return err
	}
	var src tree
	if c.from != "" {
		src, err = st.b.stageTree(c.from)
	} else {
		src, err = st.b.contextTree()
	}
	if err != nil {
		return err
	}
	defer src.close()
	srcs, err := st.sources(c, src)
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
	if err := writeCopyLayer(layerPath, src, srcs, dest, intoDir, fix); err != nil {
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

// sources are the paths the sources name in src, wildcards expanded in
// the context; one outside the context, or that names nothing, is an
// error.
func (st *state) sources(c copySpec, src tree) ([]string, error) {
	var out []string
	for _, p := range c.SourcePaths {
		if c.add && (strings.HasPrefix(p, "http://") || strings.HasPrefix(p, "https://")) {
			return nil, fmt.Errorf("ADD %s: URLs are not supported by tug build yet", p)
		}
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

// writeCopyLayer writes the layer tar of a COPY: each source's tree at
// dest (a directory's content into dest, a file as dest, or into it
// when intoDir), each header passed through fix.
func writeCopyLayer(out string, src tree, srcs []string, dest string, intoDir bool, fix func(*tar.Header)) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	for _, p := range srcs {
		dir, err := src.isDir(p)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(dest, "/")
		if !dir && intoDir {
			name = path.Join(name, path.Base(p))
		}
		if name == "" {
			name = "."
		}
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(src.write(p, name, pw)) }()
		err = appendTar(tw, pr, fix)
		pr.CloseWithError(err)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return f.Close()
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
