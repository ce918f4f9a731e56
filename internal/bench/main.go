// Command bench measures, against a local docker-registry:
//
//   - pull: `tug pull` of a ~1 GiB, 8-layer image into an empty store:
//     seconds, MB/s of unpacked data and peak RSS;
//   - start: the latency of `tug run --rm --network none busybox true`
//     with the image local, median of 20, next to a plain fork+exec of
//     the tug binary, the floor.
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
	flag.Parse()
	if err := run(*tug, *layers, *layerMiB<<20, *runs, *starts); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %s\n", err)
		os.Exit(1)
	}
}

// result is one timed pull.
type result struct {
	secs  float64
	rssMB float64
}

func run(tug string, layers int, layerBytes int64, runs, starts int) error {
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
	if err := benchStart(tug, dir, reg.Addr, starts); err != nil {
		return err
	}
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

// benchStart times container starts with the image already local.
func benchStart(tug, dir, reg string, n int) error {
	bb, err := fixture.Busybox()
	if err != nil {
		return fmt.Errorf("busybox image (apt-get install busybox-static): %w", err)
	}
	ref := reg + "/library/busybox:latest"
	tag, err := name.NewTag(ref)
	if err != nil {
		return err
	}
	if err := remote.Write(tag, bb); err != nil {
		return fmt.Errorf("push: %w", err)
	}
	root := mkdir(dir, "start")
	tugArgs := []string{"--root", mkdir(root, "tug-root"), "--runroot", mkdir(root, "tug-run")}
	if out, err := exec.Command(tug, append(tugArgs, "pull", "-q", ref)...).CombinedOutput(); err != nil {
		return fmt.Errorf("tug pull: %v: %s", err, out)
	}
	floor, err := latency(n, tug, "version")
	if err != nil {
		return err
	}
	t, err := latency(n, tug, append(tugArgs, "run", "--rm", "--network", "none", ref, "true")...)
	if err != nil {
		return fmt.Errorf("tug run: %w", err)
	}
	fmt.Printf("fork+exec of tug (floor): %7.1f ms  (median of %d)\n", floor*1000, n)
	fmt.Printf("tug run --rm true:        %7.1f ms\n", t*1000)
	if _, err := exec.LookPath("podman"); err != nil {
		fmt.Println("podman:                   not installed; no comparison")
		return nil
	}
	podArgs := []string{"--root", mkdir(root, "podman-root"), "--runroot", mkdir(root, "podman-run"), "--storage-driver", "overlay"}
	if out, err := exec.Command("podman", append(podArgs, "pull", "-q", "--tls-verify=false", ref)...).CombinedOutput(); err != nil {
		return fmt.Errorf("podman pull: %v: %s", err, out)
	}
	// podman raises RLIMIT_NOFILE and RLIMIT_NPROC by default, past the
	// hard limits of a machine without CAP_SYS_RESOURCE: ask for less.
	// crun refuses hybrid cgroup hosts; runc, where installed, does not.
	nofile := hardLimit(syscall.RLIMIT_NOFILE)
	runArgs := append(podArgs, "run", "--rm", "--network", "none",
		"--ulimit", fmt.Sprintf("nofile=%d:%d", nofile, nofile), "--ulimit", "nproc=4096:4096")
	p, err := latency(n, "podman", append(runArgs, ref, "true")...)
	if err != nil {
		if _, lerr := exec.LookPath("runc"); lerr != nil {
			return fmt.Errorf("podman run: %w (on a hybrid cgroup host, apt-get install runc)", err)
		}
		fmt.Printf("podman with its default runtime failed (%v); using runc\n", firstLine(err.Error()))
		if p, err = latency(n, "podman", append(runArgs, "--runtime", "runc", ref, "true")...); err != nil {
			return fmt.Errorf("podman run: %w", err)
		}
	}
	fmt.Printf("podman run --rm true:     %7.1f ms\n", p*1000)
	fmt.Printf("tug/podman:               %.3f of podman's time (target: ≤ 0.1)\n", t/p)
	exec.Command("podman", append(podArgs, "system", "reset", "-f")...).Run()
	return nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}

// hardLimit is this process's hard limit of resource r.
func hardLimit(r int) uint64 {
	var rl syscall.Rlimit
	syscall.Getrlimit(r, &rl)
	return rl.Max
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
	slices.Sort(secs)
	return secs[len(secs)/2], nil
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
