package build

import (
	"archive/tar"
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"tug/store"
	"tug/store/archive"
)

// StdinContext makes a context of r, as tug build - reads it: a tar
// (compressed or not) is unpacked, every entry confined to the context;
// anything else is taken for a Dockerfile alone. It returns the
// context's directory and the func that removes it.
func StdinContext(s *store.Store, r io.Reader) (string, func(), error) {
	tmp, done, err := s.TempDir()
	if err != nil {
		return "", nil, err
	}
	dir := filepath.Join(tmp, "context")
	if err := os.Mkdir(dir, 0o755); err != nil {
		done()
		return "", nil, err
	}
	br := bufio.NewReaderSize(r, 1<<20)
	if isTar(br) {
		dec, err := store.Decompress(br)
		if err == nil {
			o := archive.Options{Umask: s.Umask(), Chown: os.Geteuid() == 0, Literal: true}
			_, err = archive.Apply(dir, dec, o)
			dec.Close()
		}
		if err != nil {
			done()
			return "", nil, fmt.Errorf("build: the context on stdin: %w", err)
		}
		return dir, done, nil
	}
	f, err := os.Create(filepath.Join(dir, "Dockerfile"))
	if err == nil {
		_, err = io.Copy(f, br)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		done()
		return "", nil, fmt.Errorf("build: the Dockerfile on stdin: %w", err)
	}
	return dir, done, nil
}

// isTar tells, from what br holds buffered, whether it starts a tar,
// compressed or not.
func isTar(br *bufio.Reader) bool {
	head, _ := br.Peek(1 << 20)
	dec, err := store.Decompress(bytes.NewReader(head))
	if err != nil {
		return false
	}
	defer dec.Close()
	_, err = tar.NewReader(dec).Next()
	return err == nil
}
