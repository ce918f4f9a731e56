package build

import (
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// imageFormat is the media types of one manifest format: --format oci
// (the default) or docker (Docker's schema 2, as podman build --format
// docker makes it).
type imageFormat struct {
	manifest, config types.MediaType
	layers           map[types.MediaType]types.MediaType // a layer's type → this format's
}

// format is --format name's media types.
func format(name string) (imageFormat, bool) {
	switch name {
	case "oci", "":
		return imageFormat{types.OCIManifestSchema1, types.OCIConfigJSON, map[types.MediaType]types.MediaType{
			types.DockerLayer:                    types.OCILayer,
			types.DockerUncompressedLayer:        types.OCIUncompressedLayer,
			types.DockerForeignLayer:             types.OCIRestrictedLayer,
			types.OCILayer:                       types.OCILayer,
			types.OCIUncompressedLayer:           types.OCIUncompressedLayer,
			types.OCILayerZStd:                   types.OCILayerZStd,
			types.OCIRestrictedLayer:             types.OCIRestrictedLayer,
			types.OCIUncompressedRestrictedLayer: types.OCIUncompressedRestrictedLayer,
		}}, true
	case "docker":
		return imageFormat{types.DockerManifestSchema2, types.DockerConfigJSON, map[types.MediaType]types.MediaType{
			types.OCILayer:                types.DockerLayer,
			types.OCIUncompressedLayer:    types.DockerUncompressedLayer,
			types.OCIRestrictedLayer:      types.DockerForeignLayer,
			types.DockerLayer:             types.DockerLayer,
			types.DockerUncompressedLayer: types.DockerUncompressedLayer,
			types.DockerForeignLayer:      types.DockerForeignLayer,
		}}, true
	}
	return imageFormat{}, false
}

// CheckFormat tells whether name is a --format tug build makes.
func CheckFormat(name string) error {
	if _, ok := format(name); !ok {
		return fmt.Errorf("--format %q: want oci or docker", name)
	}
	return nil
}

// inFormat is img with the manifest, config and layer media types of
// the format name; its config, and so its ID, are unchanged. A layer
// the format has no type for (zstd in docker's) is an error.
func inFormat(img v1.Image, name string) (v1.Image, error) {
	f, _ := format(name)
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	adds := make([]mutate.Addendum, len(layers))
	for i, l := range layers {
		mt, err := l.MediaType()
		if err != nil {
			return nil, err
		}
		to, ok := f.layers[mt]
		if !ok {
			return nil, fmt.Errorf("--format %s: layer %d is %s, for which that format has no type", name, i+1, mt)
		}
		adds[i] = mutate.Addendum{Layer: l, MediaType: to}
	}
	out, err := mutate.Append(mutate.ConfigMediaType(mutate.MediaType(empty.Image, f.manifest), f.config), adds...)
	if err != nil {
		return nil, err
	}
	return mutate.ConfigFile(out, cf)
}
