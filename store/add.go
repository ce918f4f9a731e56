package store

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"
)

// MaxConfigSize caps an image config and MaxManifestSize a manifest or
// an index (the cap registries put on manifests): real ones are a few
// KiB, and a hostile registry or archive must not make tug read
// gigabytes into memory. Readers check the real bytes, not a declared
// size.
const (
	MaxConfigSize   = 8 << 20
	MaxManifestSize = 4 << 20
)

// AddOptions says how to add an image.
type AddOptions struct {
	Names    []string // canonical names to give the image
	Digests  []string // canonical name@digest references it is known by
	Jobs     int      // layers fetched at once; 0 means 4
	Reporter Reporter // nil reports nothing
	Cache    bool     // a step of tug build, kept as build cache
}

// AddImage brings img into the store: its layers (fetched in parallel,
// each verified and unpacked once), its manifest and config, and then its
// record. It is what pull and load share.
func (s *Store) AddImage(ctx context.Context, img v1.Image, opt AddOptions) (*Image, error) {
	if opt.Reporter == nil {
		opt.Reporter = nopReporter{}
	}
	if opt.Jobs <= 0 {
		opt.Jobs = 4
	}
	rec, srcs, rawManifest, rawConfig, err := describe(img)
	if err != nil {
		return nil, err
	}
	rec.Names, rec.Digests, rec.Cache = opt.Names, opt.Digests, opt.Cache
	if err := s.CleanStaging(); err != nil {
		return nil, err
	}
	// A concurrent rmi may remove a shared layer between our check and
	// our record; then the layers are ensured again.
	for attempt := 0; ; attempt++ {
		if err := s.ensureLayers(ctx, srcs, opt); err != nil {
			return nil, err
		}
		if err := s.PutBlob(rec.Manifest, rawManifest); err != nil {
			return nil, err
		}
		if err := s.PutBlob(rec.ID, rawConfig); err != nil {
			return nil, err
		}
		err := s.record(rec)
		if err == nil || err != errLayerVanished || attempt == 2 {
			return rec, err
		}
	}
}

var errLayerVanished = fmt.Errorf("a layer was removed while the image was being added; try again")

// describe reads img's manifest and config and checks that they agree.
func describe(img v1.Image) (*Image, []layerSource, []byte, []byte, error) {
	rawManifest, err := img.RawManifest()
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("read manifest: %w", err)
	}
	if len(rawManifest) > MaxManifestSize {
		return nil, nil, nil, nil, fmt.Errorf("image manifest is %d bytes, more than the %d allowed", len(rawManifest), MaxManifestSize)
	}
	m, err := v1.ParseManifest(bytes.NewReader(rawManifest))
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("parse manifest: %w", err)
	}
	mdigest, _, _ := v1.SHA256(bytes.NewReader(rawManifest))
	if m.Config.Size > MaxConfigSize {
		return nil, nil, nil, nil, fmt.Errorf("image config is %d bytes, more than the %d allowed", m.Config.Size, MaxConfigSize)
	}
	rawConfig, err := img.RawConfigFile()
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("read config: %w", err)
	}
	if int64(len(rawConfig)) != m.Config.Size {
		return nil, nil, nil, nil, fmt.Errorf("image config is %d bytes, but the manifest says %d", len(rawConfig), m.Config.Size)
	}
	if got, _, _ := v1.SHA256(bytes.NewReader(rawConfig)); got != m.Config.Digest {
		return nil, nil, nil, nil, fmt.Errorf("image config has digest %s, but the manifest says %s", got, m.Config.Digest)
	}
	cfg, err := v1.ParseConfigFile(bytes.NewReader(rawConfig))
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("parse config: %w", err)
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return nil, nil, nil, nil, fmt.Errorf("manifest has %d layers but the config lists %d diff IDs", len(m.Layers), len(cfg.RootFS.DiffIDs))
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("read layers: %w", err)
	}
	chains := ChainIDs(cfg.RootFS.DiffIDs)
	rec := &Image{ID: m.Config.Digest, Manifest: mdigest, Layers: chains, Created: cfg.Created.UTC(), Added: time.Now().UTC()}
	srcs := make([]layerSource, len(layers))
	for i, l := range layers {
		srcs[i] = layerSource{digest: m.Layers[i].Digest, size: m.Layers[i].Size, diffID: cfg.RootFS.DiffIDs[i], chainID: chains[i], open: l.Compressed}
		if i > 0 {
			srcs[i].parent = chains[i-1]
		}
		rec.Blobs = append(rec.Blobs, m.Layers[i].Digest)
	}
	return rec, srcs, rawManifest, rawConfig, nil
}

// ensureLayers fetches missing layers, opt.Jobs at a time.
func (s *Store) ensureLayers(ctx context.Context, srcs []layerSource, opt AddOptions) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(opt.Jobs)
	for _, src := range srcs {
		rep := opt.Reporter.Layer(src.digest, src.size)
		g.Go(func() error {
			if err := ctx.Err(); err != nil {
				rep.Done(false, err)
				return err
			}
			open := src.open
			src.open = func() (io.ReadCloser, error) { return openCtx(ctx, open) }
			return s.ensureLayer(src, rep)
		})
	}
	return g.Wait()
}

// openCtx opens a source and makes its reads fail once ctx is done.
func openCtx(ctx context.Context, open func() (io.ReadCloser, error)) (io.ReadCloser, error) {
	rc, err := open()
	if err != nil {
		return nil, err
	}
	return ctxReader{ctx, rc}, nil
}

type ctxReader struct {
	ctx context.Context
	io.ReadCloser
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.ReadCloser.Read(p)
}

// record writes the image record once all its layers are present, and
// fills in its size. The same config in another manifest (build
// --format) replaces the image's manifest.
func (s *Store) record(rec *Image) error {
	var replaced v1.Hash
	err := s.updateImages(func(imgs []*Image) ([]*Image, error) {
		rec.Size = 0
		for i, chain := range rec.Layers {
			lr, err := s.Layer(chain)
			if err != nil || !s.HasBlob(rec.Blobs[i]) {
				return nil, errLayerVanished
			}
			rec.Size += lr.Size
		}
		if i := slices.IndexFunc(imgs, func(img *Image) bool { return img.ID == rec.ID }); i >= 0 && imgs[i].Manifest != rec.Manifest {
			replaced = imgs[i].Manifest
			imgs[i].Manifest, imgs[i].Blobs = rec.Manifest, rec.Blobs
		}
		return putImage(imgs, rec), nil
	})
	if err == nil && replaced != (v1.Hash{}) {
		os.Remove(s.BlobPath(replaced)) // the manifest no image has now
	}
	return err
}
