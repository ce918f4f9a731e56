package pod

import (
	"context"
	"errors"
	"runtime"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"tug/store"
)

// InfraImage is the image of every infra container: no layers, and a
// command that is only shown (tug's pause runs instead: Spec.Pause).
const InfraImage = "localhost/tug-infra:latest"

// infraImage is InfraImage, made in the store the first time a pod
// needs it. It is the same image each time (no dates in it), so a
// second tug making it at once makes the same record.
func infraImage(s *store.Store) (*store.Image, error) {
	img, err := s.LookupImage(InfraImage)
	if err == nil || !errors.Is(err, store.ErrNotFound) {
		return img, err
	}
	cf := &v1.ConfigFile{
		Architecture: runtime.GOARCH, OS: "linux",
		Config: v1.Config{Entrypoint: []string{"/tug-pause"}, Labels: map[string]string{"io.tug.infra": "true"}},
		RootFS: v1.RootFS{Type: "layers"},
	}
	made, err := mutate.ConfigFile(empty.Image, cf)
	if err != nil {
		return nil, err
	}
	return s.AddImage(context.Background(), made, store.AddOptions{Names: []string{InfraImage}})
}
