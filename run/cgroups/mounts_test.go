package cgroups

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// TestMounts: on v2 the container mounts its one tree; on v1 one
// hierarchy per controller it has a cgroup in, co-mounted controllers
// once under their real dir with the single names as links.
func TestMounts(t *testing.T) {
	if got := Open(Layout{Version: "v2", Mount: "/sys/fs/cgroup", Unified: "/sys/fs/cgroup"}, "x", &Resources{}).Mounts(); !reflect.DeepEqual(got, []Mount{{FSType: "cgroup2"}}) {
		t.Errorf("v2: %+v", got)
	}
	root := t.TempDir()
	for _, d := range []string{"cpu,cpuacct", "memory", "pids", "devices", "freezer"} {
		os.Mkdir(filepath.Join(root, d), 0o755)
	}
	os.Symlink("cpu,cpuacct", filepath.Join(root, "cpu"))
	os.Symlink("cpu,cpuacct", filepath.Join(root, "cpuacct"))
	got := Open(Layout{Version: "v1", Mount: root}, "x", &Resources{}).Mounts()
	want := []Mount{
		{Dir: "cpu,cpuacct", FSType: "cgroup", Options: "cpu,cpuacct", Links: []string{"cpu", "cpuacct"}},
		{Dir: "devices", FSType: "cgroup", Options: "devices"},
		{Dir: "freezer", FSType: "cgroup", Options: "freezer"},
		{Dir: "memory", FSType: "cgroup", Options: "memory"},
		{Dir: "pids", FSType: "cgroup", Options: "pids"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("v1:\n got %+v\nwant %+v", got, want)
	}
}
