package store

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Health lists what is wrong with the store, for tug doctor: layers and
// blobs half written by a tug that was killed (the next pull of the
// image clears them), container dirs with no record, and lock files of
// containers that are gone. Work in progress, whose lock is held, is not
// a problem.
func (s *Store) Health() []string {
	var out []string
	staging, _ := os.ReadDir(filepath.Join(s.root, "layers", ".staging"))
	n := 0
	for _, e := range staging {
		if l, err := tryLockPath(s.lockFile("layer-" + e.Name())); err == nil && l != nil {
			l.Unlock()
			n++
		}
	}
	if n > 0 {
		out = append(out, fmt.Sprintf("%d incomplete layers in %s (an interrupted pull; pulling the image again clears them)", n, filepath.Join(s.root, "layers", ".staging")))
	}
	dirs, _ := os.ReadDir(filepath.Join(s.root, "containers"))
	known := map[string]bool{}
	for _, d := range dirs {
		known[d.Name()] = true
		if _, err := os.Stat(filepath.Join(s.ContainerDir(d.Name()), "config.json")); os.IsNotExist(err) {
			out = append(out, fmt.Sprintf("orphaned container dir %s (no config.json): remove it", s.ContainerDir(d.Name())))
		}
	}
	if _, bad, err := s.ScanContainers(); err == nil {
		for _, b := range bad {
			out = append(out, b.Error())
		}
	}
	locks, _ := filepath.Glob(s.lockFile("container-*"))
	for _, l := range locks {
		id := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(l), "container-"), ".lock")
		if !known[id] {
			out = append(out, fmt.Sprintf("stale lock %s of a removed container: remove it", l))
		}
	}
	return out
}
