package build

// What ADD does beyond COPY: a local tar (plain, gzip, bzip2 or zstd) is
// extracted at the destination, and an http(s) URL is downloaded, its
// --checksum checked, its Last-Modified kept as the file's mtime.

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/ulikunitz/xz"
	"golang.org/x/sys/unix"

	"tug/store"
)

// isURL tells whether an ADD source is one to download.
func isURL(src string) bool {
	return strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://")
}

// openArchive opens the context file p as the tar ADD extracts, if it is
// one; ok is false for any other file, which ADD copies as COPY does.
func (t *contextTree) openArchive(p string) (rc io.ReadCloser, ok bool, err error) {
	st, err := t.stat(p)
	if err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, false, err
	}
	open := func() (io.ReadCloser, error) {
		pfd, base, err := t.parent(p)
		if err != nil {
			return nil, err
		}
		defer unix.Close(pfd)
		fd, err := unix.Openat(pfd, base, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		return decompressed(os.NewFile(uintptr(fd), p))
	}
	probe, err := open()
	if err != nil {
		return nil, false, err
	}
	_, terr := tar.NewReader(probe).Next()
	probe.Close()
	if terr != nil {
		return nil, false, nil
	}
	rc, err = open()
	return rc, err == nil, err
}

// decompressed is f read through its compression, if any: the layers'
// gzip and zstd, and bzip2 and xz, which ADD takes too.
func decompressed(f *os.File) (io.ReadCloser, error) {
	br := bufio.NewReader(f)
	magic, _ := br.Peek(6)
	var r io.Reader = br
	switch {
	case len(magic) >= 4 && bytes.HasPrefix(magic, []byte("BZh")) && magic[3] >= '1' && magic[3] <= '9':
		r = bzip2.NewReader(br)
	case bytes.Equal(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		xr, err := xz.NewReader(br)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("xz: %w", err)
		}
		r = xr
	}
	dec, err := store.Decompress(r)
	if err != nil {
		f.Close()
		return nil, err
	}
	return readCloser{dec, f}, nil
}

// readCloser reads r and closes both it and the file under it.
type readCloser struct {
	io.ReadCloser
	f *os.File
}

func (r readCloser) Close() error { r.ReadCloser.Close(); return r.f.Close() }

// below puts an archive's entry below dest, its name (and hard link
// target) confined to it; the archive's root, dest itself, gets no name.
func below(hdr *tar.Header, dest string) {
	in := func(name string) string {
		return strings.TrimPrefix(path.Join("/", dest, path.Clean("/"+name)), "/")
	}
	hdr.Name = in(hdr.Name)
	if hdr.Typeflag == tar.TypeLink {
		hdr.Linkname = in(hdr.Linkname)
	}
}

// urlTree downloads ADD's URLs into a directory of the build's, read as
// a context is: each file named for the last element of its URL's path.
func (st *state) urlTree(c copySpec) (tree, error) {
	dir := st.b.tempFile("urls")
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, err
	}
	var names []string
	for _, src := range c.SourcePaths {
		if !isURL(src) {
			return nil, fmt.Errorf("%s: URLs and other sources in one ADD are not supported by tug build", src)
		}
		name, err := st.download(src, dir, c.checksum)
		if err != nil {
			return nil, err
		}
		names = append(names, name)
	}
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return &contextTree{dir: dir, fd: fd, heredocs: names}, nil
}

// download fetches src into dir, checks it against checksum (sha256:HEX)
// if given, and returns its file name.
func (st *state) download(src, dir, checksum string) (string, error) {
	u, err := url.Parse(src)
	if err != nil {
		return "", fmt.Errorf("ADD %s: %w", src, err)
	}
	name := path.Base(path.Clean("/" + u.Path))
	if name == "/" || name == "." {
		return "", fmt.Errorf("ADD %s: the URL names no file; give a destination file name", src)
	}
	req, err := http.NewRequestWithContext(st.b.ctx, http.MethodGet, src, nil)
	if err != nil {
		return "", fmt.Errorf("ADD %s: %w", src, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("ADD %s: %w", src, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("ADD %s: %s", src, resp.Status)
	}
	file := filepath.Join(dir, name)
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	sum := sha256.New()
	_, err = io.Copy(io.MultiWriter(f, sum), resp.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("ADD %s: %w", src, err)
	}
	if got := "sha256:" + hex.EncodeToString(sum.Sum(nil)); checksum != "" && got != checksum {
		return "", fmt.Errorf("ADD %s: --checksum %s, but the download is %s", src, checksum, got)
	}
	if t, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		os.Chtimes(file, time.Now(), t)
	}
	return name, nil
}
