package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// BlobPath returns where the blob with digest d lives.
func (s *Store) BlobPath(d v1.Hash) string {
	return filepath.Join(s.root, "blobs", d.Algorithm, d.Hex)
}

// HasBlob reports whether blob d is in the store.
func (s *Store) HasBlob(d v1.Hash) bool {
	_, err := os.Stat(s.BlobPath(d))
	return err == nil
}

// ErrCorruptBlob marks a stored blob whose content is not its digest's.
var ErrCorruptBlob = errors.New("blob is corrupt")

// corruptBlob is the error for blob d whose content has digest got.
func corruptBlob(d, got v1.Hash) error {
	return fmt.Errorf("%w: %s holds content with digest %s (tug system check --repair removes it; pull the image again)", ErrCorruptBlob, d, got)
}

// ReadBlob returns the content of a small blob (a manifest or config),
// checked against its digest.
func (s *Store) ReadBlob(d v1.Hash) ([]byte, error) {
	b, err := os.ReadFile(s.BlobPath(d))
	if os.IsNotExist(err) {
		return nil, fmt.Errorf("blob %s: %w", d, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", d, err)
	}
	if got, _, _ := v1.SHA256(bytes.NewReader(b)); got != d {
		return nil, corruptBlob(d, got)
	}
	return b, nil
}

// OpenBlob opens blob d for streaming. The reader checks the content as
// it goes: at the end, a blob whose digest or size is not what was
// stored fails the read instead of ending it, so nothing corrupt leaves
// the store (save, push) as if it were whole. size -1 is not checked.
func (s *Store) OpenBlob(d v1.Hash, size int64) (io.ReadCloser, error) {
	f, err := os.Open(s.BlobPath(d))
	if os.IsNotExist(err) {
		return nil, fmt.Errorf("blob %s: %w", d, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("open blob %s: %w", d, err)
	}
	return &verifiedReader{f: f, want: d, size: size, h: sha256.New()}, nil
}

type verifiedReader struct {
	f    *os.File
	want v1.Hash
	size int64
	h    hash.Hash
	n    int64
}

func (r *verifiedReader) Read(p []byte) (int, error) {
	n, err := r.f.Read(p)
	r.h.Write(p[:n])
	r.n += int64(n)
	if err == io.EOF {
		if got := (v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(r.h.Sum(nil))}); got != r.want {
			return n, corruptBlob(r.want, got)
		}
		if r.size >= 0 && r.n != r.size {
			return n, fmt.Errorf("%w: %s is %d bytes, its manifest says %d", ErrCorruptBlob, r.want, r.n, r.size)
		}
	}
	return n, err
}

func (r *verifiedReader) Close() error { return r.f.Close() }

// PutBlob stores a small blob after checking that data has digest d.
func (s *Store) PutBlob(d v1.Hash, data []byte) error {
	if s.HasBlob(d) {
		return nil
	}
	got, _, err := v1.SHA256(bytes.NewReader(data))
	if err != nil {
		return err
	}
	if got != d {
		return fmt.Errorf("blob %s: content has digest %s", d, got)
	}
	return WriteFileAtomic(s.BlobPath(d), data, 0o600)
}

// blobWriter streams a blob to a temp file while hashing it; commit
// checks digest and size, then makes it visible with one rename.
type blobWriter struct {
	s    *Store
	want v1.Hash
	f    *os.File
	h    hash.Hash
	n    int64
}

// newBlobWriter starts writing blob d to blobs/.tmp/<tmpName>; with an
// empty tmpName it only hashes, for a blob already stored. The caller
// holds the lock that guards tmpName, so a leftover from a killed process
// is simply truncated.
func (s *Store) newBlobWriter(d v1.Hash, tmpName string) (*blobWriter, error) {
	if d.Algorithm != "sha256" {
		return nil, fmt.Errorf("blob %s: unsupported digest algorithm", d)
	}
	if tmpName == "" {
		return &blobWriter{s: s, want: d, h: sha256.New()}, nil
	}
	tmp := filepath.Join(s.root, "blobs", ".tmp", tmpName)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create blob %s: %w", d, err)
	}
	return &blobWriter{s: s, want: d, f: f, h: sha256.New()}, nil
}

func (w *blobWriter) Write(p []byte) (int, error) {
	w.h.Write(p)
	w.n += int64(len(p))
	if w.f == nil {
		return len(p), nil
	}
	return w.f.Write(p)
}

// digest returns what has been written so far.
func (w *blobWriter) digest() v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(w.h.Sum(nil))}
}

// verify checks the digest and size of what was written.
func (w *blobWriter) verify(size int64) error {
	if got := w.digest(); got != w.want {
		return fmt.Errorf("blob %s: digest mismatch: content has %s", w.want, got)
	}
	if size >= 0 && w.n != size {
		return fmt.Errorf("blob %s: size mismatch: manifest says %d bytes, got %d", w.want, size, w.n)
	}
	return nil
}

// commit makes the blob visible; it must follow a successful verify.
// With sync false the caller has made the data durable already.
func (w *blobWriter) commit(sync bool) error {
	if w.f == nil {
		return nil
	}
	if sync {
		if err := w.f.Sync(); err != nil {
			return fmt.Errorf("sync blob %s: %w", w.want, err)
		}
	}
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("close blob %s: %w", w.want, err)
	}
	tmp := w.f.Name()
	w.f = nil
	if err := os.Rename(tmp, w.s.BlobPath(w.want)); err != nil {
		return fmt.Errorf("commit blob %s: %w", w.want, err)
	}
	return syncDir(filepath.Dir(w.s.BlobPath(w.want)))
}

// discard drops a blob that failed or was not needed.
func (w *blobWriter) discard() {
	if w.f != nil {
		w.f.Close()
		os.Remove(w.f.Name())
		w.f = nil
	}
}
