package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"tug/internal/fixture"
)

func testStore(t *testing.T) *Store {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(filepath.Join(dir, "root"), filepath.Join(dir, "run"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func layer(name string) v1.Layer {
	return fixture.Layer(fixture.Tar([]fixture.Entry{{Name: name, Body: name}}), fixture.Gzip)
}

func add(t *testing.T, s *Store, img v1.Image, names ...string) *Image {
	t.Helper()
	var canon []string
	for _, n := range names {
		c, err := NormalizeName(n)
		if err != nil {
			t.Fatal(err)
		}
		canon = append(canon, c)
	}
	rec, err := s.AddImage(context.Background(), img, AddOptions{Names: canon})
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func countDir(t *testing.T, dir string) int {
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") {
			n++
		}
	}
	return n
}

// TestRemoveKeepsSharedLayers: two images share a base layer; removing
// one removes only what the other does not use.
func TestRemoveKeepsSharedLayers(t *testing.T) {
	s := testStore(t)
	base := layer("base")
	a := add(t, s, fixture.Image([]v1.Layer{base, layer("a")}, nil, v1.Platform{}), "a")
	b := add(t, s, fixture.Image([]v1.Layer{base, layer("b")}, nil, v1.Platform{}), "b")
	if a.Layers[0] != b.Layers[0] {
		t.Fatal("base layer not shared")
	}
	if n := countDir(t, filepath.Join(s.Root(), "layers")); n != 3 {
		t.Fatalf("%d layers unpacked, want 3 (base shared)", n)
	}
	if _, err := s.RemoveImage("a", false); err != nil {
		t.Fatal(err)
	}
	if n := countDir(t, filepath.Join(s.Root(), "layers")); n != 2 {
		t.Errorf("%d layers left, want 2", n)
	}
	if _, err := os.Stat(filepath.Join(s.LayerDiff(b.Layers[0]), "base")); err != nil {
		t.Errorf("shared layer gone: %v", err)
	}
	if _, err := s.RemoveImage(b.ID.Hex[:6], false); err != nil {
		t.Fatal(err)
	}
	if n := countDir(t, filepath.Join(s.Root(), "layers")) + countDir(t, filepath.Join(s.Root(), "blobs", "sha256")); n != 0 {
		t.Errorf("%d layers and blobs left after removing every image", n)
	}
}

func TestTagUntagAndDangling(t *testing.T) {
	s := testStore(t)
	one := add(t, s, fixture.Image([]v1.Layer{layer("1")}, nil, v1.Platform{}), "app:1")
	if err := s.Tag("app:1", "app:latest"); err != nil {
		t.Fatal(err)
	}
	if err := s.Tag("app:1", "bad name"); err == nil {
		t.Error("bad tag accepted")
	}
	// rmi of one name of two only untags
	res, err := s.RemoveImage("app:latest", false)
	if err != nil || res.Deleted != nil || len(res.Untagged) != 1 {
		t.Fatalf("untag: %+v %v", res, err)
	}
	// a new image taking app:1 leaves the old one dangling
	add(t, s, fixture.Image([]v1.Layer{layer("2")}, nil, v1.Platform{}), "app:1")
	old, err := s.LookupImage(one.ID.Hex)
	if err != nil || len(old.Names) != 0 {
		t.Fatalf("old image: %+v %v", old, err)
	}
	gone, err := s.PruneImages(false)
	if err != nil || len(gone) != 1 || gone[0].ID != one.ID {
		t.Fatalf("prune: %v %v", gone, err)
	}
	if _, err := s.LookupImage("app:1"); err != nil {
		t.Errorf("named image pruned: %v", err)
	}
	used, _ := s.LookupImage("app:1")
	if err := s.CreateContainer(&Container{ID: strings.Repeat("c", 64), Name: "user", Image: used.ID}); err != nil {
		t.Fatal(err)
	}
	gone, err = s.PruneImages(true)
	if err != nil || len(gone) != 0 {
		t.Errorf("prune -a removed an image in use: %v %v", gone, err)
	}
}

func TestLookupErrors(t *testing.T) {
	s := testStore(t)
	if _, err := s.LookupImage("nothing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing: %v", err)
	}
	var ids []string
	for i := 0; i < 40; i++ {
		img := add(t, s, fixture.Image([]v1.Layer{layer(strings.Repeat("x", i+1))}, nil, v1.Platform{}))
		ids = append(ids, img.ID.Hex)
	}
	// with 40 images two share a first hex digit
	seen := map[byte]bool{}
	for _, id := range ids {
		if seen[id[0]] {
			if _, err := s.LookupImage(id[:1]); !errors.Is(err, ErrAmbiguous) {
				t.Errorf("ambiguous prefix: %v", err)
			}
			return
		}
		seen[id[0]] = true
	}
}

func TestMultiNameNeedsForce(t *testing.T) {
	s := testStore(t)
	img := add(t, s, fixture.Image([]v1.Layer{layer("m")}, nil, v1.Platform{}), "m:1", "m:2")
	if _, err := s.RemoveImage(img.ID.Hex[:12], false); !errors.Is(err, ErrInUse) {
		t.Errorf("removed by ID despite two names: %v", err)
	}
	res, err := s.RemoveImage(img.ID.Hex[:12], true)
	if err != nil || res.Deleted == nil || len(res.Untagged) != 2 {
		t.Errorf("forced: %+v %v", res, err)
	}
}

// TestImageUsedByContainer: rmi refuses an image a container needs; -f
// only untags it, and its layers stay.
func TestImageUsedByContainer(t *testing.T) {
	s := testStore(t)
	img := add(t, s, fixture.Image([]v1.Layer{layer("c")}, nil, v1.Platform{}), "c:1")
	if err := s.CreateContainer(&Container{ID: strings.Repeat("a", 64), Name: "c1", Image: img.ID}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateContainer(&Container{ID: strings.Repeat("b", 64), Name: "c1", Image: img.ID}); !errors.Is(err, ErrNameInUse) {
		t.Errorf("duplicate name: %v", err)
	}
	if err := s.CreateContainer(&Container{ID: strings.Repeat("b", 64), Name: "-bad", Image: img.ID}); err == nil {
		t.Errorf("bad name accepted")
	}
	if _, err := s.RemoveImage("c:1", false); !errors.Is(err, ErrInUse) {
		t.Fatalf("removed an image in use: %v", err)
	}
	res, err := s.RemoveImage("c:1", true)
	if err != nil || res.Deleted != nil || len(res.Untagged) != 1 {
		t.Fatalf("forced: %+v %v", res, err)
	}
	if _, err := os.Stat(s.LayerDiff(img.Layers[0])); err != nil {
		t.Errorf("layer of a container's image removed: %v", err)
	}
	if c, err := s.LookupContainer("aaaa"); err != nil || c.Name != "c1" {
		t.Errorf("lookup by prefix: %v", err)
	}
	if err := s.RemoveContainer(strings.Repeat("a", 64)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RemoveImage(img.ID.Hex, false); err != nil {
		t.Errorf("remove after the container went: %v", err)
	}
}
