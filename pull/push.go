package pull

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"tug/store"
)

// Push sends the stored image src to dest (src itself when dest is
// empty), byte for byte (with plain, its layers as plain tars), and
// returns the pushed manifest digest. Pushes go to the registry itself,
// never to a mirror.
func Push(ctx context.Context, s *store.Store, src, dest string, regs Registries, plain bool) (v1.Hash, error) {
	if dest == "" {
		dest = src
	}
	img, err := s.LookupImage(src)
	if err != nil {
		return v1.Hash{}, err
	}
	ref, err := store.ParseReference(dest)
	if err != nil {
		return v1.Hash{}, err
	}
	repo, err := regs.repository(ref.Context().RegistryStr(), ref.Context().RepositoryStr())
	if err != nil {
		return v1.Hash{}, err
	}
	var target name.Reference = repo.Tag(ref.Identifier())
	if d, ok := ref.(name.Digest); ok {
		target = repo.Digest(d.DigestStr())
	}
	vimg, err := s.V1Image(img)
	if err != nil {
		return v1.Hash{}, err
	}
	if plain {
		if vimg, err = uncompressed(vimg); err != nil {
			return v1.Hash{}, fmt.Errorf("push %s: %w", src, err)
		}
	}
	if err := remote.Write(target, vimg, regs.options(repo.RegistryStr(), remote.WithContext(ctx))...); err != nil {
		return v1.Hash{}, fmt.Errorf("push %s: %w", store.CanonicalName(ref), err)
	}
	s.Emit("image", "push", store.CanonicalName(ref), map[string]string{"name": store.CanonicalName(ref)})
	return vimg.Digest()
}
