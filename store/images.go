package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Image is an image record. Its ID is the digest of its config, as in
// docker, so the same image keeps its ID whichever way it arrived.
type Image struct {
	ID       v1.Hash   `json:"id"`
	Names    []string  `json:"names,omitempty"`   // docker.io/library/alpine:latest
	Digests  []string  `json:"digests,omitempty"` // docker.io/library/alpine@sha256:…
	Manifest v1.Hash   `json:"manifest"`          // the stored manifest blob
	Layers   []v1.Hash `json:"layers"`            // chain IDs, base first
	Blobs    []v1.Hash `json:"blobs"`             // compressed layer digests
	Size     int64     `json:"size"`              // unpacked bytes
	Created  time.Time `json:"created"`           // from the config
	Added    time.Time `json:"added"`
	// Cache marks a step of tug build kept for later builds. Without a
	// name it is build cache, not an image: images and image prune leave
	// it out, builder prune removes it.
	Cache bool `json:"cache,omitempty"`
}

// Hidden tells whether img is build cache, which image lists leave out.
func (img *Image) Hidden() bool { return img.Cache && len(img.Names) == 0 }

type imageFile struct {
	Images []*Image `json:"images"`
}

func (s *Store) imagesPath() string { return filepath.Join(s.root, "images.json") }

// Images returns every image record, newest first. It takes no lock:
// images.json is only ever replaced whole by a rename.
func (s *Store) Images() ([]*Image, error) {
	b, err := os.ReadFile(s.imagesPath())
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read image records: %w", err)
	}
	var f imageFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("image records %s are corrupt: %w", s.imagesPath(), err)
	}
	sort.SliceStable(f.Images, func(i, j int) bool { return f.Images[i].Created.After(f.Images[j].Created) })
	return f.Images, nil
}

// updateImages runs fn on the image records under the images lock and
// writes the result atomically if fn succeeds.
func (s *Store) updateImages(fn func(imgs []*Image) ([]*Image, error)) error {
	lock, imgs, err := s.lockImages()
	if err != nil {
		return err
	}
	defer lock.Unlock()
	imgs, err = fn(imgs)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(imageFile{Images: imgs}, "", "  ")
	if err != nil {
		return err
	}
	return WriteFileAtomic(s.imagesPath(), b, 0o600)
}

// lockImages takes the images lock and reads the records under it.
func (s *Store) lockImages() (*Lock, []*Image, error) {
	lock, err := lockPath(s.lockFile("images"))
	if err != nil {
		return nil, nil, err
	}
	imgs, err := s.Images()
	if err != nil {
		lock.Unlock()
		return nil, nil, err
	}
	return lock, imgs, nil
}

// LookupImage finds an image the way docker does: by name (normalized, so
// "alpine" finds docker.io/library/alpine:latest), by name@digest, by full
// ID or by a unique ID prefix.
func (s *Store) LookupImage(ref string) (*Image, error) {
	imgs, err := s.Images()
	if err != nil {
		return nil, err
	}
	return findImage(imgs, ref)
}

func findImage(imgs []*Image, ref string) (*Image, error) {
	if canon, err := NormalizeName(ref); err == nil {
		for _, img := range imgs {
			if slices.Contains(img.Names, canon) || slices.Contains(img.Digests, canon) {
				return img, nil
			}
		}
	}
	prefix := strings.TrimPrefix(ref, "sha256:")
	if !isHex(prefix) {
		return nil, &NoSuch{"image", ref}
	}
	var found *Image
	for _, img := range imgs {
		if strings.HasPrefix(img.ID.Hex, prefix) {
			if found != nil {
				return nil, fmt.Errorf("image ID prefix %s matches more than one image: %w", ref, ErrAmbiguous)
			}
			found = img
		}
	}
	if found == nil {
		return nil, &NoSuch{"image", ref}
	}
	return found, nil
}

func isHex(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}

// putImage inserts or merges rec and moves its names away from any other
// image, which may leave that one dangling (nameless), as in docker.
func putImage(imgs []*Image, rec *Image) []*Image {
	for _, other := range imgs {
		if other.ID == rec.ID {
			continue
		}
		other.Names = slices.DeleteFunc(other.Names, func(n string) bool { return slices.Contains(rec.Names, n) })
	}
	for _, img := range imgs {
		if img.ID == rec.ID {
			img.Names = appendNew(img.Names, rec.Names...)
			img.Digests = appendNew(img.Digests, rec.Digests...)
			img.Cache = img.Cache && rec.Cache // an image pulled, loaded or committed is one
			return imgs
		}
	}
	return append(imgs, rec)
}

func appendNew(list []string, items ...string) []string {
	for _, it := range items {
		if !slices.Contains(list, it) {
			list = append(list, it)
		}
	}
	return list
}

// Tag gives the image ref the extra name newName.
func (s *Store) Tag(ref, newName string) error {
	canon, err := NormalizeName(newName)
	if err != nil {
		return err
	}
	if strings.Contains(canon, "@") {
		return fmt.Errorf("tag %s: a tag cannot be a digest", newName)
	}
	var id v1.Hash
	err = s.updateImages(func(imgs []*Image) ([]*Image, error) {
		img, err := findImage(imgs, ref)
		if err != nil {
			return nil, err
		}
		id = img.ID
		return putImage(imgs, &Image{ID: img.ID, Names: []string{canon}}), nil
	})
	if err == nil {
		s.Emit("image", "tag", id.String(), map[string]string{"name": canon})
	}
	return err
}

// RemoveResult says what RemoveImage did.
type RemoveResult struct {
	Untagged []string
	Deleted  *Image // nil when only a name went
}

// RemoveImage removes ref as docker's rmi does: given a name of an image
// with other names, only that name goes; otherwise the image goes, with
// the layers and blobs no other image uses. An image with several names,
// or one a container was created from, is refused without force. With
// force, an image a container needs loses its names but stays, dangling,
// so that the container keeps its layers.
func (s *Store) RemoveImage(ref string, force bool) (*RemoveResult, error) {
	var res RemoveResult
	err := s.updateImages(func(imgs []*Image) ([]*Image, error) {
		res = RemoveResult{}
		img, err := findImage(imgs, ref)
		if err != nil {
			return nil, err
		}
		canon, nerr := NormalizeName(ref)
		if nerr == nil && slices.Contains(img.Names, canon) && len(img.Names) > 1 {
			img.Names = slices.DeleteFunc(img.Names, func(n string) bool { return n == canon })
			res.Untagged = []string{canon}
			return imgs, nil
		}
		if !force && len(img.Names) > 1 {
			return nil, fmt.Errorf("image %s is referenced by %d names (%s): %w; remove them by name or use -f",
				img.ID.Hex[:12], len(img.Names), strings.Join(img.Names, ", "), ErrInUse)
		}
		used, err := s.imageInUse(img.ID)
		if err != nil {
			return nil, err
		}
		res.Untagged = img.Names
		if used {
			if !force {
				return nil, fmt.Errorf("image %s is used by a container: %w; remove the container first, or use -f to untag it", ref, ErrInUse)
			}
			img.Names = nil
			return imgs, nil
		}
		res.Deleted = img
		return slices.DeleteFunc(imgs, func(i *Image) bool { return i.ID == img.ID }), nil
	})
	if err != nil {
		return &res, err
	}
	for _, n := range res.Untagged {
		s.Emit("image", "untag", n, map[string]string{"name": n})
	}
	if res.Deleted == nil {
		return &res, nil
	}
	s.Emit("image", "delete", res.Deleted.ID.String(), map[string]string{"name": strings.Join(res.Deleted.Names, ",")})
	return &res, s.collect([]*Image{res.Deleted})
}

// PruneImages removes dangling images, or with all every image, except
// those a container was created from and build cache, and returns what
// it removed.
func (s *Store) PruneImages(all bool) ([]*Image, error) {
	return s.removeUnused(func(img *Image) bool { return (all || len(img.Names) == 0) && !img.Hidden() })
}

// removeUnused removes the images pick selects that no container was
// created from, with the layers and blobs no other image has, and
// returns them.
func (s *Store) removeUnused(pick func(*Image) bool) ([]*Image, error) {
	var gone []*Image
	err := s.updateImages(func(imgs []*Image) ([]*Image, error) {
		gone = nil
		var keep []*Image
		for _, img := range imgs {
			used, err := s.imageInUse(img.ID)
			if err != nil {
				return nil, err
			}
			if pick(img) && !used {
				gone = append(gone, img)
			} else {
				keep = append(keep, img)
			}
		}
		return keep, nil
	})
	if err != nil || len(gone) == 0 {
		return gone, err
	}
	return gone, s.collect(gone)
}

// collect deletes the layers and blobs of removed images that no
// remaining image refers to.
func (s *Store) collect(removed []*Image) error {
	lock, imgs, err := s.lockImages()
	if err != nil {
		return err
	}
	defer lock.Unlock()
	used := map[v1.Hash]bool{}
	for _, img := range imgs {
		for _, h := range append(append([]v1.Hash{img.ID, img.Manifest}, img.Layers...), img.Blobs...) {
			used[h] = true
		}
	}
	var errs []error
	for _, img := range removed {
		for _, chain := range img.Layers {
			if !used[chain] {
				errs = append(errs, s.removeLayer(chain))
			}
		}
		for _, b := range append([]v1.Hash{img.ID, img.Manifest}, img.Blobs...) {
			if !used[b] {
				if err := os.Remove(s.BlobPath(b)); err != nil && !errors.Is(err, os.ErrNotExist) {
					errs = append(errs, err)
				}
			}
		}
	}
	return errors.Join(errs...)
}
