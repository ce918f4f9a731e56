// Package cgroups finds and drives the host's cgroup hierarchy, v1, v2 or
// the hybrid of both.
package cgroups

import (
	"fmt"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Layout describes how cgroups are mounted.
type Layout struct {
	// Version is "v2" (unified), "v1" (legacy) or "hybrid" (v1
	// controllers plus a v2 tree without controllers).
	Version string `json:"version"`
	// Mount is the cgroup root, /sys/fs/cgroup.
	Mount string `json:"mount"`
	// Unified is the v2 tree: Mount on v2, Mount/unified on hybrid.
	Unified string `json:"unified,omitempty"`
}

// Detect reads the cgroup layout under mount (normally /sys/fs/cgroup).
func Detect(mount string) (Layout, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(mount, &st); err != nil {
		return Layout{}, fmt.Errorf("detect cgroups at %s: %w", mount, err)
	}
	if st.Type == unix.CGROUP2_SUPER_MAGIC {
		return Layout{Version: "v2", Mount: mount, Unified: mount}, nil
	}
	l := Layout{Version: "v1", Mount: mount}
	unified := filepath.Join(mount, "unified")
	if err := unix.Statfs(unified, &st); err == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		l.Version, l.Unified = "hybrid", unified
	}
	return l, nil
}
