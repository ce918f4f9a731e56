package store

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// TarLayer is a layer whose blob is the uncompressed tar file at path, as
// tug build and commit make them: nothing to compress when it is stored
// (the store unpacks it as any layer), which costs more bytes on a push.
type TarLayer struct {
	path   string
	digest v1.Hash
	size   int64
}

// NewTarLayer reads the tar at path once, for its digest.
func NewTarLayer(path string) (*TarLayer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w", path, err)
	}
	return &TarLayer{path: path, digest: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}, size: n}, nil
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
