package store

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Finding is one thing wrong with the store: what, and either what a
// repair did about it or how to fix it by hand.
type Finding struct {
	Problem  string `json:"problem"`
	Repaired string `json:"repaired,omitempty"`
	Fix      string `json:"fix,omitempty"`
}

func (f Finding) String() string {
	switch {
	case f.Repaired != "":
		return f.Problem + ": repaired: " + f.Repaired
	case f.Fix != "":
		return f.Problem + ": " + f.Fix
	}
	return f.Problem
}

// Health lists what is wrong with the store, for tug doctor, without
// reading any blob: what Check finds but for damaged blobs and layers.
func (s *Store) Health() []string {
	var out []string
	for _, f := range s.quickCheck(false) {
		out = append(out, f.String())
	}
	return out
}

// Check verifies the store (tug system check): every blob against its
// digest, every image's blobs and layers, every layer's record, every
// container's record, and what killed tugs left (staging, temp dirs,
// locks of removed containers). With repair it removes what is safe to
// remove: leftovers and corrupt blobs (the next pull of their image
// fetches them again); the rest it names, with the fix. Work in
// progress, whose lock is held, is left alone.
func (s *Store) Check(repair bool) ([]Finding, error) {
	out := s.quickCheck(repair)
	imgs, err := s.Images()
	if err != nil {
		return append(out, Finding{Problem: err.Error(), Fix: "restore images.json, or remove it and pull the images again"}), nil
	}
	out = append(out, s.checkBlobs(imgs, repair)...)
	out = append(out, s.checkLayers(repair)...)
	return append(out, s.checkImages(imgs)...), nil
}

// quickCheck is what needs no blob reads: leftovers of killed tugs and
// unreadable container records.
func (s *Store) quickCheck(repair bool) []Finding {
	var out []Finding
	if n := s.staleStaging(); n > 0 {
		f := Finding{Problem: fmt.Sprintf("%d incomplete layers in %s (an interrupted pull)", n, filepath.Join(s.root, "layers", ".staging")),
			Fix: "pulling the image again clears them"}
		if repair && s.CleanStaging() == nil {
			f.Repaired = "removed"
		}
		out = append(out, f)
	}
	if repair {
		if gone, err := s.sweepTemp(); err == nil && len(gone) > 0 {
			out = append(out, Finding{Problem: fmt.Sprintf("%d temp dirs of killed tugs in %s", len(gone), filepath.Join(s.root, "tmp")), Repaired: "removed"})
		}
	} else if n := s.staleTemp(); n > 0 {
		out = append(out, Finding{Problem: fmt.Sprintf("%d temp dirs of killed tugs in %s", n, filepath.Join(s.root, "tmp")),
			Fix: "the next load, save or commit removes them"})
	}
	known := map[string]bool{}
	good, bad, err := s.ScanContainers() // finishes interrupted removals itself
	if err != nil {
		return append(out, Finding{Problem: err.Error()})
	}
	for _, c := range good {
		known[c.ID] = true
	}
	for _, b := range bad {
		known[b.ID] = true
		out = append(out, Finding{Problem: fmt.Sprintf("container %s: %s %s: %v", b.ID, ErrCorrupt, b.Path, b.Err), Fix: "tug rm -f " + b.ID + " removes it"})
	}
	locks, _ := filepath.Glob(s.lockFile("container-*"))
	for _, l := range locks {
		id := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(l), "container-"), ".lock")
		if known[id] {
			continue
		}
		f := Finding{Problem: fmt.Sprintf("stale lock %s of a removed container", l), Fix: "remove it"}
		if repair {
			if lk, err := tryLockPath(l); err == nil && lk != nil {
				if os.Remove(l) == nil {
					f.Repaired = "removed"
				}
				lk.Unlock()
			}
		}
		out = append(out, f)
	}
	return out
}

// staleStaging counts staging entries whose layer lock nobody holds.
func (s *Store) staleStaging() int {
	staging, _ := os.ReadDir(filepath.Join(s.root, "layers", ".staging"))
	n := 0
	for _, e := range staging {
		if l, err := tryLockPath(s.lockFile("layer-" + e.Name())); err == nil && l != nil {
			l.Unlock()
			n++
		}
	}
	return n
}

// staleTemp counts temp dirs whose lock nobody holds.
func (s *Store) staleTemp() int {
	left, _ := filepath.Glob(filepath.Join(s.root, "tmp", "t*"))
	n := 0
	for _, d := range left {
		if l, err := tryLockDir(d); err == nil && l != nil {
			l.Unlock()
			n++
		}
	}
	return n
}

// checkBlobs hashes every blob; a corrupt one is removed with repair.
func (s *Store) checkBlobs(imgs []*Image, repair bool) []Finding {
	dir := filepath.Join(s.root, "blobs", "sha256")
	entries, _ := os.ReadDir(dir)
	var out []Finding
	for _, e := range entries {
		d := v1.Hash{Algorithm: "sha256", Hex: e.Name()}
		r, err := s.OpenBlob(d, -1)
		if err == nil {
			_, err = r.(*verifiedReader).drain()
			r.Close()
		}
		if err == nil {
			continue
		}
		f := Finding{Problem: fmt.Sprintf("blob %s: %v", d, unwrapCorrupt(err))}
		users := blobUsers(imgs, d)
		if len(users) > 0 {
			f.Problem += " (used by " + strings.Join(users, ", ") + ")"
		}
		f.Fix = "tug system check --repair removes it; pull the image again"
		if repair && errors.Is(err, ErrCorruptBlob) && os.Remove(filepath.Join(dir, e.Name())) == nil {
			f.Repaired, f.Fix = "removed; pull the image again to fetch it", ""
		}
		out = append(out, f)
	}
	return out
}

// unwrapCorrupt drops the repair hint from a corrupt blob error: the
// finding says it.
func unwrapCorrupt(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, " (tug system check"); i > 0 {
		return msg[:i]
	}
	return msg
}

// drain reads the blob to its end, which checks it.
func (r *verifiedReader) drain() (int64, error) {
	buf := make([]byte, 256<<10)
	for {
		_, err := r.Read(buf)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return r.n, nil
			}
			return r.n, err
		}
	}
}

// blobUsers names the images whose manifest, config or layers are d.
func blobUsers(imgs []*Image, d v1.Hash) []string {
	var out []string
	for _, img := range imgs {
		if img.ID == d || img.Manifest == d || slices.Contains(img.Blobs, d) {
			out = append(out, img.displayName())
		}
	}
	return out
}

// checkLayers reads every layer's record; a layer dir without one that
// is no pull's work in progress is half written: repair removes it.
func (s *Store) checkLayers(repair bool) []Finding {
	dir := filepath.Join(s.root, "layers")
	entries, _ := os.ReadDir(dir)
	var out []Finding
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		chain := v1.Hash{Algorithm: "sha256", Hex: e.Name()}
		_, err := s.Layer(chain)
		if err == nil {
			if _, err = os.Stat(s.LayerDiff(chain)); err == nil {
				continue
			}
		}
		f := Finding{Problem: fmt.Sprintf("layer %s: %v", e.Name(), err), Fix: "tug rmi the images that use it, and pull them again"}
		if repair && errors.Is(err, ErrNotFound) {
			if l, lerr := tryLockPath(s.lockFile("layer-" + e.Name())); lerr == nil && l != nil {
				if os.RemoveAll(filepath.Join(dir, e.Name())) == nil {
					f.Repaired, f.Fix = "removed the half-written layer", ""
				}
				l.Unlock()
			}
		}
		out = append(out, f)
	}
	return out
}

// checkImages checks that every image's blobs and layers are there.
func (s *Store) checkImages(imgs []*Image) []Finding {
	var out []Finding
	for _, img := range imgs {
		var missing []string
		for _, d := range append([]v1.Hash{img.Manifest, img.ID}, img.Blobs...) {
			if !s.HasBlob(d) {
				missing = append(missing, "blob "+d.String())
			}
		}
		for _, l := range img.Layers {
			if !s.hasLayer(l) {
				missing = append(missing, "layer "+l.String())
			}
		}
		if len(missing) > 0 {
			out = append(out, Finding{Problem: fmt.Sprintf("image %s lacks %s", img.displayName(), strings.Join(missing, ", ")),
				Fix: "pull it again (or tug rmi it)"})
		}
	}
	return out
}

// displayName is the image's first name, or its short ID.
func (img *Image) displayName() string {
	if len(img.Names) > 0 {
		return img.Names[0]
	}
	return img.ID.Hex[:12]
}
