// Command bench measures `tug pull` of a ~1 GiB, 8-layer image from a
// local docker-registry into an empty store: seconds, MB/s of unpacked
// data and peak RSS. When podman is installed it pulls the same image
// with podman in the same run and prints the ratio. `make bench` runs it.
package main

import (
	"cmp"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"tug/internal/fixture"
	"tug/internal/registrytest"
)

func main() {
	layers := flag.Int("layers", 8, "layers in the image")
	layerMiB := flag.Int64("layer-mib", 128, "MiB of file content per layer")
	tug := flag.String("tug", "./tug", "the tug binary")
	runs := flag.Int("runs", 3, "pulls per tool")
	flag.Parse()
	if err := run(*tug, *layers, *layerMiB<<20, *runs); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %s\n", err)
		os.Exit(1)
	}
}

// result is one timed pull.
type result struct {
	secs  float64
	rssMB float64
}

func run(tug string, layers int, layerBytes int64, runs int) error {
	tug, err := filepath.Abs(tug)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "tug-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	reg, err := registrytest.Start(mkdir(dir, "registry"), "")
	if err != nil {
		return err
	}
	defer reg.Stop()
	fmt.Printf("building a %d-layer image of %d MiB and pushing it to docker-registry at %s…\n", layers, int64(layers)*layerBytes>>20, reg.Addr)
	ref := reg.Addr + "/library/bench:latest"
	tag, err := name.NewTag(ref)
	if err != nil {
		return err
	}
	if err := remote.Write(tag, fixture.Big(layers, layerBytes, 42)); err != nil {
		return fmt.Errorf("push: %w", err)
	}
	unpackedMB := float64(int64(layers)*layerBytes) / 1e6
	_, podman := exec.LookPath("podman")
	// Alternate the two tools, each into a fresh store, and report the
	// median of each: the disk here is erratic from run to run.
	var tugRuns, podRuns []result
	for i := 0; i < runs; i++ {
		root := mkdir(dir, fmt.Sprintf("run%d", i))
		t, err := timed(exec.Command(tug, "--root", mkdir(root, "tug-root"), "--runroot", mkdir(root, "tug-run"), "pull", "-q", ref))
		if err != nil {
			return fmt.Errorf("tug pull: %w", err)
		}
		tugRuns = append(tugRuns, t)
		if podman != nil {
			continue
		}
		p, err := timed(exec.Command("podman", "--root", mkdir(root, "podman-root"), "--runroot", mkdir(root, "podman-run"),
			"--storage-driver", "overlay", "pull", "-q", "--tls-verify=false", ref))
		if err != nil {
			return fmt.Errorf("podman pull: %w", err)
		}
		podRuns = append(podRuns, p)
		exec.Command("podman", "--root", filepath.Join(root, "podman-root"), "--runroot", filepath.Join(root, "podman-run"), "system", "reset", "-f").Run()
		os.RemoveAll(root)
	}
	t := median(tugRuns)
	fmt.Printf("tug pull:    %6.2f s  %7.1f MB/s unpacked  peak RSS %6.1f MB  (median of %d)\n", t.secs, unpackedMB/t.secs, t.rssMB, runs)
	if podman != nil {
		fmt.Println("podman:      not installed; no comparison (apt-get install podman)")
		return nil
	}
	p := median(podRuns)
	fmt.Printf("podman pull: %6.2f s  %7.1f MB/s unpacked  peak RSS %6.1f MB  (median of %d)\n", p.secs, unpackedMB/p.secs, p.rssMB, runs)
	fmt.Printf("tug/podman:  %.2f× the throughput, %.2f× the peak RSS (targets: ≥ 2×, and RSS < 150 MB)\n", p.secs/t.secs, t.rssMB/p.rssMB)
	return nil
}

// median returns the run with the median time, and the highest RSS seen.
func median(rs []result) result {
	sorted := slices.Clone(rs)
	slices.SortFunc(sorted, func(a, b result) int { return cmp.Compare(a.secs, b.secs) })
	m := sorted[len(sorted)/2]
	for _, r := range rs {
		m.rssMB = max(m.rssMB, r.rssMB)
	}
	return m
}

func mkdir(parts ...string) string {
	d := filepath.Join(parts...)
	os.MkdirAll(d, 0o755)
	return d
}

// timed flushes dirty pages (so that one pull does not pay for the
// last one's writeback), then runs cmd and returns its wall time and peak
// RSS. The peak is VmHWM polled from /proc: the rusage of a child forked
// from this big process would report this process's RSS instead.
func timed(cmd *exec.Cmd) (result, error) {
	syscall.Sync()
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return result{}, err
	}
	done := make(chan struct{})
	peak := make(chan float64)
	go func() {
		var hwm float64
		for {
			if kb := vmHWM(cmd.Process.Pid); kb > hwm {
				hwm = kb
			}
			select {
			case <-done:
				peak <- hwm / 1024
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	err := cmd.Wait()
	secs := time.Since(start).Seconds()
	close(done)
	rss := <-peak
	if err != nil {
		return result{}, err
	}
	return result{secs: secs, rssMB: rss}, nil
}

// vmHWM reads a process's peak resident set size in KiB.
func vmHWM(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb float64
			fmt.Sscanf(strings.TrimSpace(rest), "%f", &kb)
			return kb
		}
	}
	return 0
}
