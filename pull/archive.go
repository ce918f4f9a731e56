package pull

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"tug/store"
)

// Archive formats for save and load.
const (
	DockerArchive = "docker-archive"
	OCIArchive    = "oci-archive"
)

// refNameAnnotation names an image in an OCI layout's index.
const refNameAnnotation = "org.opencontainers.image.ref.name"

// SaveOptions say how to save.
type SaveOptions struct {
	Format       string // DockerArchive ("") or OCIArchive
	Uncompressed bool   // layers as plain tars
}

// Save writes the images refs to w as a docker-archive (docker save) or
// an oci-archive. Each image keeps its config, and in an oci-archive its
// manifest (unless Uncompressed), byte for byte.
func Save(s *store.Store, refs []string, opt SaveOptions, w io.Writer) error {
	if err := save(s, refs, opt, w); err != nil {
		return err
	}
	for _, r := range refs {
		s.Emit("image", "save", r, map[string]string{"name": r})
	}
	return nil
}

func save(s *store.Store, refs []string, opt SaveOptions, w io.Writer) error {
	format := opt.Format
	type named struct {
		img  v1.Image
		name string // canonical tagged name, or "" when saved by ID
	}
	var imgs []named
	for _, r := range refs {
		rec, err := s.LookupImage(r)
		if err != nil {
			return err
		}
		img, err := s.V1Image(rec)
		if err != nil {
			return err
		}
		if opt.Uncompressed {
			if img, err = uncompressed(img); err != nil {
				return fmt.Errorf("save %s: %w", r, err)
			}
		}
		n := ""
		if canon, err := store.NormalizeName(r); err == nil && !strings.Contains(canon, "@") && contains(rec.Names, canon) {
			n = canon
		} else if len(rec.Names) > 0 && !isIDRef(rec, r) {
			n = rec.Names[0]
		}
		imgs = append(imgs, named{img, n})
	}
	switch format {
	case DockerArchive, "":
		m := map[name.Reference]v1.Image{}
		for _, it := range imgs {
			var ref name.Reference
			if it.name != "" {
				t, err := name.NewTag(it.name)
				if err != nil {
					return err
				}
				ref = t
			} else {
				d, err := it.img.Digest()
				if err != nil {
					return err
				}
				ref, err = name.NewDigest("tug.invalid/untagged@" + d.String())
				if err != nil {
					return err
				}
			}
			m[ref] = it.img
		}
		return tarball.MultiRefWrite(m, w)
	case OCIArchive:
		tmp, done, err := s.TempDir()
		if err != nil {
			return err
		}
		defer done()
		p, err := layout.Write(tmp, empty.Index)
		if err != nil {
			return fmt.Errorf("write oci layout: %w", err)
		}
		for _, it := range imgs {
			var opts []layout.Option
			if it.name != "" {
				opts = append(opts, layout.WithAnnotations(map[string]string{refNameAnnotation: it.name}))
			}
			if err := p.AppendImage(it.img, opts...); err != nil {
				return fmt.Errorf("write oci layout: %w", err)
			}
		}
		return tarDir(tmp, w)
	default:
		return fmt.Errorf("unknown archive format %q: want %s or %s", format, DockerArchive, OCIArchive)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// isIDRef tells whether r named rec by its ID rather than by a name.
func isIDRef(rec *store.Image, r string) bool {
	return strings.HasPrefix(rec.ID.Hex, strings.TrimPrefix(r, "sha256:"))
}

// tarDir writes the regular files and dirs under dir to w as a tar.
func tarDir(dir string, w io.Writer) error {
	tw := tar.NewWriter(w)
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		hdr, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if fi.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return fmt.Errorf("write archive: %w", err)
	}
	return tw.Close()
}

// LoadOptions says how to load.
type LoadOptions struct {
	Reporter store.Reporter
}

// Load reads a docker-archive or oci-archive from r and adds every image
// in it to the store.
func Load(ctx context.Context, s *store.Store, r io.Reader, opt LoadOptions) ([]*store.Image, error) {
	tmp, done, err := s.TempDir()
	if err != nil {
		return nil, err
	}
	defer done()
	archive := filepath.Join(tmp, "archive.tar")
	if err := copyToFile(r, archive); err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	isOCI, err := untarIfOCI(archive, filepath.Join(tmp, "oci"))
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	if isOCI {
		if err := checkOCISizes(filepath.Join(tmp, "oci")); err != nil {
			return nil, fmt.Errorf("load: %w", err)
		}
		return loadOCI(ctx, s, filepath.Join(tmp, "oci"), opt)
	}
	if err := checkDockerSizes(archive); err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	return loadDocker(ctx, s, archive, opt)
}

// checkDockerSizes bounds what go-containerregistry reads whole from a
// docker-archive, by the sizes of the entries themselves: manifest.json
// and the configs it names.
func checkDockerSizes(archive string) error {
	sizes := map[string]int64{}
	var manifest []byte
	_, err := scanTar(archive, func(n string, hdr *tar.Header, r io.Reader) error {
		sizes[n] = hdr.Size
		if n != "manifest.json" {
			return nil
		}
		if hdr.Size > store.MaxManifestSize {
			return fmt.Errorf("is %d bytes, more than the %d allowed", hdr.Size, store.MaxManifestSize)
		}
		var err error
		manifest, err = io.ReadAll(r)
		return err
	})
	if err != nil || manifest == nil {
		return err // no manifest.json: the loader says what is wrong
	}
	var entries []struct{ Config string }
	if err := json.Unmarshal(manifest, &entries); err != nil {
		return fmt.Errorf("manifest.json: %w", err)
	}
	for _, e := range entries {
		n := strings.TrimPrefix(filepath.Clean("/"+e.Config), "/")
		if sizes[n] > store.MaxConfigSize {
			return fmt.Errorf("image config %s is %d bytes, more than the %d allowed", e.Config, sizes[n], store.MaxConfigSize)
		}
	}
	return nil
}

// checkOCISizes walks an OCI layout's index, the indexes and manifests
// it names and their configs, and checks each blob's real size against
// the size its descriptor declares and tug's caps, before anything reads
// one whole.
func checkOCISizes(dir string) error {
	b, err := readCapped(filepath.Join(dir, "index.json"), -1, store.MaxManifestSize)
	if err != nil {
		return fmt.Errorf("index.json: %w", err)
	}
	return checkIndex(dir, b, 0)
}

func checkIndex(dir string, raw []byte, depth int) error {
	if depth > 4 {
		return errors.New("indexes nested too deep")
	}
	var idx v1.IndexManifest
	if err := json.Unmarshal(raw, &idx); err != nil {
		return fmt.Errorf("parse index: %w", err)
	}
	for _, d := range idx.Manifests {
		if !d.MediaType.IsIndex() && !d.MediaType.IsImage() {
			continue
		}
		b, err := readCapped(blobPath(dir, d.Digest), d.Size, store.MaxManifestSize)
		if err != nil {
			return fmt.Errorf("manifest %s: %w", d.Digest, err)
		}
		if d.MediaType.IsIndex() {
			if err := checkIndex(dir, b, depth+1); err != nil {
				return err
			}
			continue
		}
		var m v1.Manifest
		if err := json.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("manifest %s: %w", d.Digest, err)
		}
		if err := checkSize(blobPath(dir, m.Config.Digest), m.Config.Size, store.MaxConfigSize); err != nil {
			return fmt.Errorf("config %s: %w", m.Config.Digest, err)
		}
	}
	return nil
}

func blobPath(dir string, h v1.Hash) string {
	return filepath.Join(dir, "blobs", h.Algorithm, h.Hex)
}

// checkSize checks a file's real size: what its descriptor declares
// (want, or -1 for anything), and at most limit.
func checkSize(path string, want, limit int64) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.Size() > limit {
		return fmt.Errorf("is %d bytes, more than the %d allowed", fi.Size(), limit)
	}
	if want >= 0 && fi.Size() != want {
		return fmt.Errorf("is %d bytes, but its descriptor says %d", fi.Size(), want)
	}
	return nil
}

// readCapped reads a file that checkSize accepts.
func readCapped(path string, want, limit int64) ([]byte, error) {
	if err := checkSize(path, want, limit); err != nil {
		return nil, err
	}
	return os.ReadFile(path)
}

func copyToFile(r io.Reader, path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return fmt.Errorf("read archive: %w", err)
	}
	return f.Close()
}

// untarIfOCI unpacks the archive's regular files into dir when it is an
// OCI layout (it has an oci-layout file), refusing any name that would
// leave dir.
func untarIfOCI(archive, dir string) (bool, error) {
	isOCI, err := scanTar(archive, func(n string, _ *tar.Header, _ io.Reader) error { return nil })
	if err != nil || !isOCI {
		return false, err
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return false, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return false, err
	}
	defer root.Close()
	_, err = scanTar(archive, func(n string, hdr *tar.Header, r io.Reader) error {
		if hdr.Typeflag != tar.TypeReg && hdr.Typeflag != tar.TypeRegA {
			return nil
		}
		if d := filepath.Dir(n); d != "." {
			if err := root.MkdirAll(d, 0o700); err != nil {
				return err
			}
		}
		f, err := root.OpenFile(n, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		_, err = io.Copy(f, r)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	})
	return true, err
}

// scanTar calls fn for each entry of the tar at path, with its cleaned
// relative name, and reports whether the archive has an oci-layout file.
func scanTar(path string, fn func(string, *tar.Header, io.Reader) error) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	isOCI, entries := false, 0
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return false, fmt.Errorf("not a tar archive: %w", err)
		}
		entries++
		n := strings.TrimPrefix(filepath.Clean("/"+hdr.Name), "/")
		if n == "oci-layout" {
			isOCI = true
		}
		if err := fn(n, hdr, tr); err != nil {
			return false, fmt.Errorf("entry %s: %w", hdr.Name, err)
		}
	}
	if entries == 0 {
		return false, errors.New("archive is empty")
	}
	return isOCI, nil
}

func loadOCI(ctx context.Context, s *store.Store, dir string, opt LoadOptions) ([]*store.Image, error) {
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("load oci archive: %w", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("load oci archive: %w", err)
	}
	var out []*store.Image
	for _, d := range im.Manifests {
		if !d.MediaType.IsImage() {
			continue
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			return nil, fmt.Errorf("load oci archive: %w", err)
		}
		add := store.AddOptions{Reporter: opt.Reporter}
		if canon, err := store.NormalizeName(d.Annotations[refNameAnnotation]); err == nil {
			add.Names = []string{canon}
		}
		rec, err := s.AddImage(ctx, img, add)
		if err != nil {
			return nil, fmt.Errorf("load: %w", err)
		}
		s.Emit("image", "load", rec.ID.String(), map[string]string{"name": strings.Join(add.Names, ",")})
		out = append(out, rec)
	}
	return out, nil
}

func loadDocker(ctx context.Context, s *store.Store, archive string, opt LoadOptions) ([]*store.Image, error) {
	opener := func() (io.ReadCloser, error) { return os.Open(archive) }
	m, err := tarball.LoadManifest(opener)
	if err != nil {
		return nil, fmt.Errorf("load: not a docker or oci archive: %w", err)
	}
	var out []*store.Image
	for _, entry := range m {
		var tag *name.Tag
		if len(entry.RepoTags) > 0 {
			t, err := name.NewTag(entry.RepoTags[0])
			if err != nil {
				return nil, fmt.Errorf("load: bad tag %q: %w", entry.RepoTags[0], err)
			}
			tag = &t
		} else if len(m) > 1 {
			return nil, errors.New("load: an untagged image in a multi-image archive cannot be told apart; save it alone")
		}
		img, err := tarball.Image(opener, tag)
		if err != nil {
			return nil, fmt.Errorf("load: %w", err)
		}
		add := store.AddOptions{Reporter: opt.Reporter}
		for _, t := range entry.RepoTags {
			if canon, err := store.NormalizeName(t); err == nil {
				add.Names = append(add.Names, canon)
			}
		}
		rec, err := s.AddImage(ctx, img, add)
		if err != nil {
			return nil, fmt.Errorf("load: %w", err)
		}
		s.Emit("image", "load", rec.ID.String(), map[string]string{"name": strings.Join(add.Names, ",")})
		out = append(out, rec)
	}
	return out, nil
}
