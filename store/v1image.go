package store

import (
	"bytes"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// V1Image returns a stored image as a go-containerregistry image, served
// from the blob store byte for byte, for push and save.
func (s *Store) V1Image(img *Image) (v1.Image, error) {
	raw, err := s.ReadBlob(img.Manifest)
	if err != nil {
		return nil, err
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("image %s: parse manifest: %w", img.ID.Hex[:12], err)
	}
	return partial.CompressedToImage(&storedImage{s: s, img: img, raw: raw, m: m})
}

type storedImage struct {
	s   *Store
	img *Image
	raw []byte
	m   *v1.Manifest
}

// RawConfigFile returns the config blob.
func (i *storedImage) RawConfigFile() ([]byte, error) { return i.s.ReadBlob(i.img.ID) }

// MediaType returns the manifest's media type.
func (i *storedImage) MediaType() (types.MediaType, error) {
	if i.m.MediaType != "" {
		return i.m.MediaType, nil
	}
	return types.OCIManifestSchema1, nil
}

// RawManifest returns the manifest blob.
func (i *storedImage) RawManifest() ([]byte, error) { return i.raw, nil }

// LayerByDigest returns a layer (or the config) by its blob digest.
func (i *storedImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if h == i.m.Config.Digest {
		return &storedLayer{s: i.s, desc: i.m.Config}, nil
	}
	for _, d := range i.m.Layers {
		if d.Digest == h {
			return &storedLayer{s: i.s, desc: d}, nil
		}
	}
	return nil, fmt.Errorf("blob %s is not in image %s: %w", h, i.img.ID.Hex[:12], ErrNotFound)
}

type storedLayer struct {
	s    *Store
	desc v1.Descriptor
}

// Digest returns the blob digest.
func (l *storedLayer) Digest() (v1.Hash, error) { return l.desc.Digest, nil }

// Compressed opens the blob, checked against its digest as it is read.
func (l *storedLayer) Compressed() (io.ReadCloser, error) {
	return l.s.OpenBlob(l.desc.Digest, l.desc.Size)
}

// Size returns the blob size.
func (l *storedLayer) Size() (int64, error) { return l.desc.Size, nil }

// MediaType returns the blob's media type.
func (l *storedLayer) MediaType() (types.MediaType, error) { return l.desc.MediaType, nil }
