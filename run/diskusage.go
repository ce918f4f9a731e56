package run

import (
	"io/fs"
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
	iu := DiskUse{Type: "Images", Total: len(imgs)}
	layerUsers := map[string]int{}
	for _, img := range imgs {
		for _, l := range img.Layers {
			layerUsers[l.Hex]++
		}
	}
	for _, img := range imgs {
		if used[img.ID.Hex] {
			iu.Active++
		}
		for _, l := range img.Layers {
			size := int64(0)
			if rec, err := s.Layer(l); err == nil {
				size = rec.Size
			}
			n := layerUsers[l.Hex]
			if n == 0 {
				continue // counted with an image before
			}
			layerUsers[l.Hex] = 0
			iu.Size += size
			if !used[img.ID.Hex] && n == 1 {
				iu.Reclaimable += size
			}
		}
	}
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
	return []DiskUse{iu, cu, vu}, nil
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
