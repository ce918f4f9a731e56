package pull

import (
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// uncompressed returns img with its layers as plain tars (save and push
// --uncompressed): each layer's blob is its uncompressed content, so its
// digest is its diff ID. The config, and so the image ID, stays as it
// was. A layer's size takes one read of it.
func uncompressed(img v1.Image) (v1.Image, error) {
	mt, err := img.MediaType()
	if err != nil {
		return nil, err
	}
	layerType := types.DockerUncompressedLayer
	if mt == types.OCIManifestSchema1 {
		layerType = types.OCIUncompressedLayer
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	plain := make([]v1.Layer, len(layers))
	for i, l := range layers {
		if plain[i], err = plainLayer(l, layerType); err != nil {
			return nil, err
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	out, err := mutate.AppendLayers(mutate.MediaType(empty.Image, mt), plain...)
	if err != nil {
		return nil, err
	}
	return mutate.ConfigFile(out, cf)
}

// plainTar is a layer whose blob is its uncompressed tar.
type plainTar struct {
	v1.Layer
	size      int64
	mediaType types.MediaType
}

func plainLayer(l v1.Layer, mt types.MediaType) (v1.Layer, error) {
	rc, err := l.Uncompressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	n, err := io.Copy(io.Discard, rc)
	if err != nil {
		return nil, fmt.Errorf("read layer: %w", err)
	}
	return &plainTar{Layer: l, size: n, mediaType: mt}, nil
}

// Digest is the diff ID: the blob is the uncompressed content.
func (l *plainTar) Digest() (v1.Hash, error) { return l.DiffID() }

// Compressed returns the uncompressed content, which is the blob.
func (l *plainTar) Compressed() (io.ReadCloser, error) { return l.Uncompressed() }

// Size is the uncompressed content's.
func (l *plainTar) Size() (int64, error) { return l.size, nil }

// MediaType says the blob is a plain tar.
func (l *plainTar) MediaType() (types.MediaType, error) { return l.mediaType, nil }
