package store

import (
	"bytes"
	"fmt"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// ImageInspect is the docker-shaped view of an image that inspect prints.
type ImageInspect struct {
	ID           string      `json:"Id"`
	RepoTags     []string    `json:"RepoTags"`
	RepoDigests  []string    `json:"RepoDigests"`
	Created      string      `json:"Created"`
	Author       string      `json:"Author,omitempty"`
	Architecture string      `json:"Architecture"`
	Variant      string      `json:"Variant,omitempty"`
	Os           string      `json:"Os"`
	Config       v1.Config   `json:"Config"`
	Size         int64       `json:"Size"`
	RootFS       InspectRoot `json:"RootFS"`
	Manifest     string      `json:"ManifestDigest"`
	ManifestType string      `json:"ManifestType"`
	Metadata     struct {
		LastTagTime string `json:"LastTagTime"`
	} `json:"Metadata"`
}

// InspectRoot is the RootFS part of ImageInspect.
type InspectRoot struct {
	Type   string   `json:"Type"`
	Layers []string `json:"Layers"`
}

// Config returns the parsed config of a stored image.
func (s *Store) Config(img *Image) (*v1.ConfigFile, error) {
	raw, err := s.ReadBlob(img.ID)
	if err != nil {
		return nil, err
	}
	cfg, err := v1.ParseConfigFile(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("image %s: parse config: %w", img.ID.Hex[:12], err)
	}
	return cfg, nil
}

// Inspect returns the docker-shaped view of img.
func (s *Store) Inspect(img *Image) (*ImageInspect, error) {
	cfg, err := s.Config(img)
	if err != nil {
		return nil, err
	}
	out := &ImageInspect{
		ID:           img.ID.String(),
		RepoTags:     append([]string{}, img.Names...),
		RepoDigests:  append([]string{}, img.Digests...),
		Created:      cfg.Created.UTC().Format(time.RFC3339Nano),
		Author:       cfg.Author,
		Architecture: cfg.Architecture,
		Variant:      cfg.Variant,
		Os:           cfg.OS,
		Config:       cfg.Config,
		Size:         img.Size,
		RootFS:       InspectRoot{Type: "layers"},
		Manifest:     img.Manifest.String(),
	}
	out.Metadata.LastTagTime = img.Added.Format(time.RFC3339Nano)
	if raw, err := s.ReadBlob(img.Manifest); err == nil {
		if m, err := v1.ParseManifest(bytes.NewReader(raw)); err == nil {
			out.ManifestType = string(m.MediaType)
		}
	}
	for _, d := range cfg.RootFS.DiffIDs {
		out.RootFS.Layers = append(out.RootFS.Layers, d.String())
	}
	return out, nil
}

// HistoryEntry is one line of an image's history, newest first.
type HistoryEntry struct {
	ID        string // the image ID on the newest entry, "<missing>" on the rest
	Created   time.Time
	CreatedBy string
	Size      int64
	Comment   string
}

// History returns img's build history with the size of each layer.
func (s *Store) History(img *Image) ([]HistoryEntry, error) {
	cfg, err := s.Config(img)
	if err != nil {
		return nil, err
	}
	var out []HistoryEntry
	layer := 0
	for _, h := range cfg.History {
		e := HistoryEntry{ID: "<missing>", Created: h.Created.UTC(), CreatedBy: h.CreatedBy, Comment: h.Comment}
		if !h.EmptyLayer && layer < len(img.Layers) {
			if rec, err := s.Layer(img.Layers[layer]); err == nil {
				e.Size = rec.Size
			}
			layer++
		}
		out = append([]HistoryEntry{e}, out...)
	}
	if len(out) > 0 {
		out[0].ID = img.ID.String()
	}
	return out, nil
}
