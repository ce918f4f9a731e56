package pull

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"tug/store"
)

// Options says how to pull.
type Options struct {
	Registries
	// Platform picks the image from a multi-arch index; nil means the
	// host's.
	Platform *v1.Platform
	// Reporter follows the layers; nil reports nothing.
	Reporter store.Reporter
	// Jobs is how many layers are fetched at once; 0 means 4.
	Jobs int
}

// ErrNoPlatform is returned when an index has no image for the platform.
var ErrNoPlatform = errors.New("no matching platform")

// HostPlatform returns the platform tug runs on.
func HostPlatform() v1.Platform {
	p := v1.Platform{OS: runtime.GOOS, Architecture: runtime.GOARCH}
	if p.Architecture == "arm64" {
		p.Variant = "v8"
	}
	return p
}

// Pull fetches ref (docker's normalization applies) into the store and
// returns its record. The image keeps its own name whichever mirror
// served it.
func Pull(ctx context.Context, s *store.Store, ref string, opt Options) (*store.Image, error) {
	r, err := store.ParseReference(ref)
	if err != nil {
		return nil, err
	}
	canon := store.CanonicalName(r)
	desc, err := opt.fetch(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", canon, err)
	}
	img, err := opt.pickImage(desc)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", canon, err)
	}
	add := store.AddOptions{
		Digests:  []string{store.RepositoryName(r.Context()) + "@" + desc.Digest.String()},
		Jobs:     opt.Jobs,
		Reporter: opt.Reporter,
	}
	if _, ok := r.(name.Tag); ok {
		add.Names = []string{canon}
	}
	rec, err := s.AddImage(ctx, img, add)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", canon, err)
	}
	s.Emit("image", "pull", canon, map[string]string{"name": canon})
	return rec, nil
}

// fetch gets the manifest or index of ref from the first source that has
// it: the mirrors of its registry in order, then the registry.
func (opt Options) fetch(ctx context.Context, ref name.Reference) (*remote.Descriptor, error) {
	srcs, err := opt.sources(ref)
	if err != nil {
		return nil, err
	}
	var errs []string
	for _, src := range srcs {
		desc, err := remote.Get(src, opt.options(src.Context().RegistryStr(), remote.WithContext(ctx))...)
		if err == nil {
			slog.Debug("manifest fetched", "ref", src.String(), "digest", desc.Digest)
			return desc, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		slog.Debug("source failed", "ref", src.String(), "err", err)
		errs = append(errs, fmt.Sprintf("%s: %v", src.Context().RegistryStr(), err))
	}
	return nil, errors.New(strings.Join(errs, "; "))
}

// pickImage returns the image of desc, resolving an index to the wanted
// platform.
func (opt Options) pickImage(desc *remote.Descriptor) (v1.Image, error) {
	switch {
	case desc.MediaType.IsImage():
		return desc.Image()
	case desc.MediaType.IsIndex():
	default:
		return nil, fmt.Errorf("unsupported manifest type %q (schema 1 and artifacts cannot be run)", desc.MediaType)
	}
	idx, err := desc.ImageIndex()
	if err != nil {
		return nil, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	want := HostPlatform()
	if opt.Platform != nil {
		want = *opt.Platform
	}
	d, err := matchPlatform(im.Manifests, want)
	if err != nil {
		return nil, err
	}
	return idx.Image(d.Digest)
}

// matchPlatform picks the manifest for want: same OS and architecture,
// and the same variant when both name one. An exact variant wins.
func matchPlatform(ms []v1.Descriptor, want v1.Platform) (v1.Descriptor, error) {
	var found []v1.Descriptor
	var have []string
	for _, m := range ms {
		p := m.Platform
		if p == nil || p.OS == "unknown" {
			continue // attestations and the like
		}
		have = append(have, p.String())
		if p.OS != want.OS || p.Architecture != want.Architecture {
			continue
		}
		if p.Variant == want.Variant {
			return m, nil
		}
		if p.Variant == "" || want.Variant == "" {
			found = append(found, m)
		}
	}
	if len(found) > 0 {
		return found[0], nil
	}
	return v1.Descriptor{}, fmt.Errorf("%w: image has no %s variant; it has %s", ErrNoPlatform, want.String(), strings.Join(have, ", "))
}

// ParsePlatform parses os/arch[/variant].
func ParsePlatform(s string) (*v1.Platform, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return nil, fmt.Errorf("invalid platform %q: want os/arch[/variant], e.g. linux/arm64", s)
	}
	p := &v1.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return p, nil
}
