package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestCgroupManagerLatency is the systemd manager's benchmark, where
// systemd runs the host (the v2 guest): the median time of `tug run
// --rm busybox true` under each manager, runs interleaved. The systemd
// manager (a scope per container over D-Bus) may cost at most 1.5× the
// cgroupfs one. Under emulation the figures are relative only.
func TestCgroupManagerLatency(t *testing.T) {
	env := needE2E(t)
	if !systemdBooted() {
		t.Skip("systemd is not PID 1 here (the v2 guest runs this)")
	}
	se := newStoreEnv(t, env)
	cfgs := map[string]string{}
	base, err := os.ReadFile(se.cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"systemd", "cgroupfs"} {
		cfgs[m] = filepath.Join(t.TempDir(), m+".toml")
		if err := os.WriteFile(cfgs[m], fmt.Appendf(base, "[engine]\ncgroup_manager = %q\n", m), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	times := map[string][]time.Duration{}
	for i := 0; i < 12; i++ {
		for _, m := range []string{"systemd", "cgroupfs"} {
			cmd := se.tug("run", "--rm", "--network", "none", "busybox", "true")
			cmd.Env = append(cmd.Env, "TUG_CONFIG="+cfgs[m])
			start := time.Now()
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s: run: %v: %s", m, err, out)
			}
			if i > 1 { // the first runs warm the caches
				times[m] = append(times[m], time.Since(start))
			}
		}
	}
	median := func(ds []time.Duration) time.Duration {
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	sd, fs := median(times["systemd"]), median(times["cgroupfs"])
	ratio := float64(sd) / float64(fs)
	t.Logf("tug run --rm busybox true, median of %d: systemd manager %v, cgroupfs %v: %.2f×", len(times["systemd"]), sd.Round(time.Millisecond), fs.Round(time.Millisecond), ratio)
	if ratio > 1.5 {
		t.Errorf("the systemd manager takes %.2f× cgroupfs's start time; the target is at most 1.5×", ratio)
	}
}
