package cgroups

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestDetectLayouts mounts each layout for real in scratch dirs: cgroup2
// alone (v2), tmpfs alone (v1) and tmpfs with cgroup2 at unified
// (hybrid, this CI machine's own layout).
func TestDetectLayouts(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting needs root")
	}
	mount := func(fstype, dir string) {
		t.Helper()
		if err := unix.Mount(fstype, dir, fstype, 0, ""); err != nil {
			t.Skipf("mount %s: %v", fstype, err)
		}
		t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	}
	v2 := t.TempDir()
	mount("cgroup2", v2)
	v1 := t.TempDir()
	mount("tmpfs", v1)
	hybrid := t.TempDir()
	mount("tmpfs", hybrid)
	if err := os.Mkdir(filepath.Join(hybrid, "unified"), 0o755); err != nil {
		t.Fatal(err)
	}
	mount("cgroup2", filepath.Join(hybrid, "unified"))
	for dir, want := range map[string]Layout{
		v2:     {Version: "v2", Mount: v2, Unified: v2},
		v1:     {Version: "v1", Mount: v1},
		hybrid: {Version: "hybrid", Mount: hybrid, Unified: filepath.Join(hybrid, "unified")},
	} {
		got, err := Detect(dir)
		if err != nil || got != want {
			t.Errorf("%s: got %+v, %v; want %+v", dir, got, err, want)
		}
	}
	if _, err := Detect(filepath.Join(v1, "missing")); err == nil {
		t.Error("missing mount detected")
	}
}
