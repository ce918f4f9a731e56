package run

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"tug/store"
)

// DiskUse is one line of tug system df: a kind of object, how many there
// are and are in use, their size and what removing the unused ones
// would give back, in bytes as files measure them (du -b).
type DiskUse struct {
	Type        string
	Total       int
	Active      int
	Size        int64
	Reclaimable int64
}

// DiskUsage measures images (their layers, each counted once), the
// containers' own changes (their upper dirs) and the local volumes'
// data, as docker's system df does.
func DiskUsage(s *store.Store) ([]DiskUse, error) {
	ctrs, err := s.Containers()
	if err != nil {
		return nil, err
	}
	imgs, err := s.Images()
	if err != nil {
		return nil, err
	}
	vols, err := s.Volumes()
	if err != nil {
		return nil, err
	}
	used := map[string]bool{} // image IDs containers were made from
	cu := DiskUse{Type: "Containers", Total: len(ctrs)}
	for _, c := range ctrs {
		used[c.Image.Hex] = true
		size := dirSize(filepath.Join(s.ContainerDir(c.ID), "upper"))
		cu.Size += size
		if st, err := State(s, c); err == nil && kept(st) {
			cu.Active++
		} else {
			cu.Reclaimable += size
		}
	}
	iu, bu := imageUse(s, imgs, used)
	vu := DiskUse{Type: "Local Volumes", Total: len(vols)}
	for _, v := range vols {
		size := dirSize(s.VolumeData(v.Name))
		vu.Size += size
		if users, err := s.VolumeUsers(v.Name); err == nil && len(users) > 0 {
			vu.Active++
		} else {
			vu.Reclaimable += size
		}
	}
	return []DiskUse{iu, cu, vu, bu}, nil
}

// imageUse measures the images, and apart the build cache (images kept
// for tug build's steps, nameless): each layer counted once, with the
// images if any image has it, reclaimable when no image that a
// container needs has it and one image alone does.
func imageUse(s *store.Store, imgs []*store.Image, used map[string]bool) (DiskUse, DiskUse) {
	iu, bu := DiskUse{Type: "Images"}, DiskUse{Type: "Build Cache"}
	users := map[string]int{}    // images with the layer
	inImage := map[string]bool{} // some image, not cache, has it
	for _, img := range imgs {
		for _, l := range img.Layers {
			users[l.Hex]++
			inImage[l.Hex] = inImage[l.Hex] || !img.Hidden()
		}
	}
	for _, img := range imgs {
		u := &iu
		if img.Hidden() {
			u = &bu
		}
		u.Total++
		if used[img.ID.Hex] {
			u.Active++
		}
		for _, l := range img.Layers {
			n := users[l.Hex]
			if n == 0 || inImage[l.Hex] && img.Hidden() {
				continue // counted already, or with the images
			}
			users[l.Hex] = 0
			size := int64(0)
			if rec, err := s.Layer(l); err == nil {
				size = rec.Size
			}
			u.Size += size
			if !used[img.ID.Hex] && (n == 1 || img.Hidden()) {
				u.Reclaimable += size
			}
		}
	}
	return iu, bu
}

// Size is what a container's files take: its changes (the upper dir;
// nothing for the copy driver, which keeps none apart), and those with
// its image's, as docker's SizeRw and SizeRootFs.
func Size(s *store.Store, c *store.Container) (rw, rootfs int64) {
	if _, err := os.Stat(filepath.Join(s.ContainerDir(c.ID), "upper")); err == nil {
		rw = dirSize(filepath.Join(s.ContainerDir(c.ID), "upper"))
	}
	rootfs = rw
	if img, err := s.LookupImage(c.Image.Hex); err == nil {
		rootfs += img.Size
	}
	return rw, rootfs
}

// dirSize adds up the apparent sizes of everything under dir, dir
// included, hard links once, as du -sb does.
func dirSize(dir string) int64 {
	var n int64
	seen := map[uint64]bool{}
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 && !fi.IsDir() {
			if seen[st.Ino] {
				return nil
			}
			seen[st.Ino] = true
		}
		n += fi.Size()
		return nil
	})
	return n
}
