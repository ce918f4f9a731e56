package store

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"tug/store/archive"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// TarLayer is a layer whose blob, in the store, is an uncompressed tar,
// as CreateLayer makes them for tug build: nothing to compress, which
// costs more bytes on a push.
type TarLayer struct {
	path   string
	digest v1.Hash
	size   int64
}

// Digest is the blob's digest, the tar's.
func (l *TarLayer) Digest() (v1.Hash, error) { return l.digest, nil }

// DiffID is the tar's digest too: the blob is not compressed.
func (l *TarLayer) DiffID() (v1.Hash, error) { return l.digest, nil }

// Compressed opens the blob: the tar itself.
func (l *TarLayer) Compressed() (io.ReadCloser, error) { return os.Open(l.path) }

// Uncompressed opens the tar.
func (l *TarLayer) Uncompressed() (io.ReadCloser, error) { return os.Open(l.path) }

// Size is the blob's size.
func (l *TarLayer) Size() (int64, error) { return l.size, nil }

// MediaType is OCI's uncompressed layer.
func (l *TarLayer) MediaType() (types.MediaType, error) { return types.OCIUncompressedLayer, nil }

// CreateLayer makes a layer on top of parent (the chain ID of the layer
// below it; zero for none) from the entries fill gives its sink. The
// layer's tar, stored uncompressed as its blob, and its unpacked
// directory are written in one pass, each file's content read once for
// both, and the blob is hashed as it is written: what commit and tug
// build need, where adding a made tar would read and hash it twice more.
// Both are committed before it returns, so adding an image with the
// layer finds it there.
func (s *Store) CreateLayer(parent v1.Hash, fill func(archive.Sink) error) (*TarLayer, error) {
	tmp, done, err := s.TempDir()
	if err != nil {
		return nil, err
	}
	defer done()
	staging, blob := filepath.Join(tmp, "layer"), filepath.Join(tmp, "blob")
	size, sum, err := s.writeLayer(staging, blob, fill)
	if err != nil {
		return nil, err
	}
	diffID := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum)}
	src := layerSource{digest: diffID, diffID: diffID, chainID: diffID, parent: parent}
	if parent != (v1.Hash{}) {
		src.chainID = ChainIDs([]v1.Hash{parent, diffID})[1]
	}
	lock, err := lockPath(s.lockFile("layer-" + src.chainID.Hex))
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()
	haveLayer, haveBlob := s.hasLayer(src.chainID), s.HasBlob(diffID)
	if !haveLayer || !haveBlob {
		// one syncfs makes both durable, as a pull's does
		if err := syncFS(tmp); err != nil {
			return nil, err
		}
	}
	if !haveBlob {
		if err := os.Rename(blob, s.BlobPath(diffID)); err != nil {
			return nil, fmt.Errorf("commit blob %s: %w", diffID, err)
		}
		if err := syncDir(filepath.Dir(s.BlobPath(diffID))); err != nil {
			return nil, err
		}
	}
	if !haveLayer {
		if err := s.commitLayer(src, staging, size); err != nil {
			return nil, err
		}
	}
	fi, err := os.Stat(s.BlobPath(diffID))
	if err != nil {
		return nil, err
	}
	return &TarLayer{path: s.BlobPath(diffID), digest: diffID, size: fi.Size()}, nil
}

// writeLayer unpacks fill's entries into staging/diff and writes them as
// a tar to blob, returning the bytes of file content and the tar's
// SHA-256.
func (s *Store) writeLayer(staging, blob string, fill func(archive.Sink) error) (int64, []byte, error) {
	if err := os.MkdirAll(filepath.Join(staging, "diff"), 0o755); err != nil {
		return 0, nil, fmt.Errorf("make staging dir: %w", err)
	}
	f, err := os.OpenFile(blob, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, nil, fmt.Errorf("create blob: %w", err)
	}
	defer f.Close()
	u, err := archive.NewUnpacker(filepath.Join(staging, "diff"), s.unpack)
	if err != nil {
		return 0, nil, err
	}
	h := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(h, f), 256<<10)
	ts := archive.NewTarSink(bw)
	err = fill(archive.Tee(ts, u))
	if cerr := u.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = ts.Close()
	}
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Close()
	}
	if err != nil {
		return 0, nil, fmt.Errorf("write layer: %w", err)
	}
	return u.Written(), h.Sum(nil), nil
}
