// Command bench measures, against a local docker-registry:
//
//   - pull: `tug pull` of a ~1 GiB, 8-layer image into an empty store:
//     seconds, MB/s of unpacked data and peak RSS;
//   - start: the latency of `tug run --rm --network none busybox true`
//     with the image local, median of 20, next to a plain fork+exec of
//     the tug binary, the floor;
//   - fleet: with 50 detached containers running, the latency of `ps`
//     and of `exec CONTAINER true`, and the monitor's RSS per container;
//   - copy-up: a run with a new volume over an image directory of
//     20,000 small files, which are copied into it;
//   - build: a 3-stage Dockerfile over a context of 20,000 files and
//     200 MB, cold, with no change, and after one file changes;
//   - health: 50 containers with a healthcheck every second, the CPU
//     their monitors use themselves and each one's memory;
//   - pods: pod create and two run --pod, the memory of a pod's infra
//     container (its monitor, the one keeper), and kube play of a Deployment
//     of 3 replicas;
//   - api: the docker CLI through tug system service's socket and
//     podman system service's: run --rm true, and ps with the fleet
//     running;
//   - compose: compose up -d then down of a 3-service project, tug
//     compose's against docker-compose through podman's API socket.
//
// -only picks some of these parts.
//
// When podman is installed it does the same with podman in the same run
// and prints the ratios. `make bench` runs it.
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
	starts := flag.Int("starts", 20, "container starts per tool")
	fleet := flag.Int("fleet", 50, "detached containers for the ps and exec figures")
	rootless := flag.String("rootless-user", "tugrl", "the unprivileged user (with subordinate IDs) for the rootless figures")
	healthSecs := flag.Int("health-secs", 60, "seconds the healthcheck figure watches the monitors")
	only := flag.String("only", "", "run only these parts, comma-separated: containers, rootless, pods, api, compose, copyup, build, health, pull")
	flag.Parse()
	parts := map[string]bool{}
	for _, p := range strings.Split(*only, ",") {
		parts[p] = *only != ""
	}
	want := func(part string) bool { return *only == "" || parts[part] }
	if err := run(*tug, *layers, *layerMiB<<20, *runs, *starts, *fleet, *healthSecs, *rootless, want); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %s\n", err)
		os.Exit(1)
	}
}

// result is one timed pull.
type result struct {
	secs  float64
	rssMB float64
}

func run(tug string, layers int, layerBytes int64, runs, starts, fleet, healthSecs int, rootlessUser string, want func(string) bool) error {
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
	// the pushes of the images the other parts use
	if err := pushBusybox(reg.Addr); err != nil {
		return err
	}
	if want("containers") {
		if err := benchContainers(tug, dir, reg.Addr, starts, fleet); err != nil {
			return err
		}
	}
	if want("rootless") {
		if err := benchRootless(tug, reg.Addr+"/library/busybox:latest", rootlessUser, starts); err != nil {
			return err
		}
	}
	if want("pods") {
		if err := benchPods(tug, dir, reg.Addr, 9); err != nil {
			return err
		}
		if err := benchKube(tug, dir, reg.Addr, 5); err != nil {
			return err
		}
	}
	if want("api") {
		if err := benchAPI(tug, dir, reg.Addr, 9, fleet); err != nil {
			return err
		}
	}
	if want("compose") {
		if err := benchCompose(tug, dir, reg.Addr, 5); err != nil {
			return err
		}
	}
	if want("health") {
		if err := benchHealth(tug, dir, reg.Addr, fleet, healthSecs); err != nil {
			return err
		}
	}
	// before the pulls, whose stores are deleted run after run: ext4
	// without a journal makes files slowly for minutes where many were
	// just deleted. The copies stay until the end, for the same reason.
	if want("copyup") {
		if err := benchCopyUp(tug, dir, reg.Addr, 5); err != nil {
			return err
		}
	}
	if want("build") {
		if err := benchBuild(tug, dir, reg.Addr); err != nil {
			return err
		}
	}
	if !want("pull") {
		return nil
	}
	return benchPull(tug, dir, reg.Addr, layers, layerBytes, runs)
}

// benchPull times pulls of a big image into empty stores, tug's and,
// when installed, podman's, and prints the medians.
func benchPull(tug, dir, reg string, layers int, layerBytes int64, runs int) error {
	fmt.Printf("building a %d-layer image of %d MiB and pushing it to docker-registry at %s…\n", layers, int64(layers)*layerBytes>>20, reg)
	ref := reg + "/library/bench:latest"
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

// latency runs a command n times and returns the median wall time.
func latency(n int, name string, args ...string) (float64, error) {
	var secs []float64
	for i := 0; i < n; i++ {
		start := time.Now()
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			return 0, fmt.Errorf("%v: %s", err, out)
		}
		secs = append(secs, time.Since(start).Seconds())
	}
	return medianOf(secs), nil
}

// medianOf returns the median of xs.
func medianOf(xs []float64) float64 {
	sorted := slices.Clone(xs)
	slices.Sort(sorted)
	return sorted[len(sorted)/2]
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
			if kb := vmField(cmd.Process.Pid, "VmHWM:"); kb > hwm {
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

// vmField reads a size field of /proc/PID/status (VmHWM:, VmRSS:) in KiB.
func vmField(pid int, field string) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			var kb float64
			fmt.Sscanf(strings.TrimSpace(rest), "%f", &kb)
			return kb
		}
	}
	return 0
}
