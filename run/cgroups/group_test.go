package cgroups

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeV2 is a cgroupfs stand-in with the files a v2 tree has.
func fakeV2(t *testing.T) Layout {
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "cgroup.controllers"), []byte("cpuset cpu io memory pids\n"), 0o644)
	os.WriteFile(filepath.Join(root, "cgroup.subtree_control"), nil, 0o644)
	tug := filepath.Join(root, parent)
	os.MkdirAll(tug, 0o755)
	os.WriteFile(filepath.Join(tug, "cgroup.controllers"), []byte("cpuset cpu io memory pids\n"), 0o644)
	return Layout{Version: "v2", Mount: root, Unified: root}
}

func read(t *testing.T, p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return string(b)
}

// TestV2Writes checks the files and values the v2 path writes.
func TestV2Writes(t *testing.T) {
	l := fakeV2(t)
	g := Open(l, "c1", nil)
	r := Resources{Memory: 32 << 20, MemoryReservation: 16 << 20, MemorySwap: 64 << 20, CPUQuota: 50000, CPUPeriod: 100000,
		CPUShares: 512, CpusetCpus: "0", PidsLimit: 20, BlkioWeight: 300, DeviceReadBps: []Rate{{8, 0, 1 << 20}}}
	if err := g.Create(r); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(l.Unified, parent, "c1")
	for file, want := range map[string]string{
		"memory.max": "33554432", "memory.low": "16777216", "memory.swap.max": "33554432",
		"cpu.max": "50000 100000", "cpu.weight": "20", "cpuset.cpus": "0", "pids.max": "20",
		"io.weight": "300", "io.max": "8:0 rbps=1048576",
	} {
		if got := read(t, filepath.Join(dir, file)); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	if got := read(t, filepath.Join(l.Unified, parent, "cgroup.subtree_control")); !strings.Contains(got, "+") {
		t.Errorf("controllers not delegated to tug's parent: %q", got)
	}
	if err := g.Set(Resources{PidsLimit: -1, MemorySwap: -1, Memory: 1 << 30}); err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(dir, "pids.max")); got != "max" {
		t.Errorf("unlimited pids = %q", got)
	}
	if got := read(t, filepath.Join(dir, "memory.swap.max")); got != "max" {
		t.Errorf("unlimited swap = %q", got)
	}
	os.WriteFile(filepath.Join(dir, "memory.events"), []byte("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n"), 0o644)
	if !g.OOMKilled() {
		t.Error("oom_kill 1 not seen")
	}
}

// TestV1Writes checks the v1 mapping, one dir per controller.
func TestV1Writes(t *testing.T) {
	root := t.TempDir()
	for _, c := range []string{"memory", "cpu", "pids", "cpuset"} {
		os.MkdirAll(filepath.Join(root, c), 0o755)
	}
	os.WriteFile(filepath.Join(root, "cpuset", "cpuset.cpus"), []byte("0-1\n"), 0o644)
	os.WriteFile(filepath.Join(root, "cpuset", "cpuset.mems"), []byte("0\n"), 0o644)
	g := Open(Layout{Version: "hybrid", Mount: root}, "c1", nil)
	if err := g.Create(Resources{Memory: 32 << 20, CPUQuota: 50000, CPUShares: 512, PidsLimit: 20}); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		"memory/tug/c1/memory.limit_in_bytes": "33554432", "cpu/tug/c1/cpu.cfs_quota_us": "50000",
		"cpu/tug/c1/cpu.cfs_period_us": "100000", "cpu/tug/c1/cpu.shares": "512", "pids/tug/c1/pids.max": "20",
		"cpuset/tug/cpuset.cpus": "0-1\n", "cpuset/tug/c1/cpuset.mems": "0\n",
	} {
		if got := read(t, filepath.Join(root, file)); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	// blkio is not mounted in this fake: its limits are refused, clearly
	err := g.Set(Resources{BlkioWeight: 300})
	if err == nil || !strings.Contains(err.Error(), "--blkio-weight: the blkio controller is not supported") {
		t.Errorf("missing controller: %v", err)
	}
}

func TestControllers(t *testing.T) {
	for _, tc := range []struct {
		r    Resources
		want string
	}{
		{Resources{}, ""},
		{Resources{Memory: 1, PidsLimit: 5}, "memory pids"},
		{Resources{CPUShares: 2, CpusetCpus: "0"}, "cpu cpuset"},
		{Resources{MemorySwap: -1, DeviceWriteBps: []Rate{{}}}, "io memory"},
		{Resources{Devices: []DeviceRule{{Type: 'a'}}}, ""},
	} {
		if got := strings.Join(tc.r.Controllers(), " "); got != tc.want {
			t.Errorf("%+v: controllers %q, want %q", tc.r, got, tc.want)
		}
	}
}
