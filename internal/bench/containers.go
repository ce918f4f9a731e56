package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"tug/internal/fixture"
)

// engine is tug or podman, with the flags that give it a store of its
// own and the ones its run needs here.
type engine struct {
	name     string
	bin      string
	global   []string
	runArgs  []string // after "run"
	pullArgs []string // after "pull"
	env      []string // beyond the bench's own environment
}

func (e engine) cmd(args ...string) *exec.Cmd {
	return e.command(append(append([]string{}, e.global...), args...))
}

// command is the engine with args as they are (e.run's, e.global's
// included), in its environment.
func (e engine) command(args []string) *exec.Cmd {
	cmd := exec.Command(e.bin, args...)
	cmd.Env = append(os.Environ(), e.env...)
	return cmd
}

func (e engine) run(args ...string) []string {
	return append(append(append(append([]string{}, e.global...), "run"), e.runArgs...), args...)
}

// pushBusybox pushes the busybox image the figures run, as
// library/busybox:latest.
func pushBusybox(reg string) error {
	tag, err := name.NewTag(reg + "/library/busybox:latest")
	if err != nil {
		return err
	}
	bb, err := fixture.Busybox()
	if err != nil {
		return fmt.Errorf("busybox image (apt-get install busybox-static): %w", err)
	}
	if err := remote.Write(tag, bb); err != nil {
		return fmt.Errorf("push: %w", err)
	}
	return nil
}

// benchContainers times starts, then ps and exec among a fleet of
// detached containers, for tug and, when installed, podman.
func benchContainers(tug, dir, reg string, starts, fleet int) error {
	ref := reg + "/library/busybox:latest"
	root := mkdir(dir, "containers")
	t := engine{name: "tug", bin: tug, global: []string{"--root", mkdir(root, "tug-root"), "--runroot", mkdir(root, "tug-run")}}
	if out, err := t.cmd("pull", "-q", ref).CombinedOutput(); err != nil {
		return fmt.Errorf("tug pull: %v: %s", err, out)
	}
	floor, err := latency(starts, tug, "version")
	if err != nil {
		return err
	}
	fmt.Printf("fork+exec of tug (floor): %7.1f ms  (median of %d)\n", floor*1000, starts)
	tr, err := measure(t, ref, starts, fleet)
	if err != nil {
		return err
	}
	if err := startPhases(t, ref, starts); err != nil {
		return err
	}
	if err := benchPublished(t, ref, 9); err != nil {
		return err
	}
	p, err := podmanEngine(root, ref)
	if err != nil {
		fmt.Printf("podman:                   %s; no comparison\n", err)
		return nil
	}
	pr, err := measure(p, ref, starts, fleet)
	if err != nil {
		return err
	}
	fmt.Printf("tug/podman: start %.3f (target ≤ 0.1), bridge start %.3f (target ≤ 0.2), ps %.3f, exec %.3f (target ≤ 0.25), keeper RSS %.2f\n",
		tr.start/pr.start, tr.startBridge/pr.startBridge, tr.ps/pr.ps, tr.exec/pr.exec, tr.rss/pr.rss)
	p.cmd("system", "reset", "-f").Run()
	return nil
}

// podmanEngine sets podman up with a store of its own. podman raises
// RLIMIT_NOFILE and RLIMIT_NPROC past the hard limits of a machine
// without CAP_SYS_RESOURCE, so ask for less; crun refuses hybrid cgroup
// hosts, so fall back to runc where it is installed.
func podmanEngine(root, ref string) (engine, error) {
	bin, err := exec.LookPath("podman")
	if err != nil {
		return engine{}, fmt.Errorf("not installed")
	}
	nofile := hardLimit(syscall.RLIMIT_NOFILE)
	p := engine{name: "podman", bin: bin,
		global:   []string{"--root", mkdir(root, "podman-root"), "--runroot", mkdir(root, "podman-run"), "--storage-driver", "overlay"},
		runArgs:  []string{"--ulimit", fmt.Sprintf("nofile=%d:%d", nofile, nofile), "--ulimit", "nproc=4096:4096"},
		pullArgs: []string{"--tls-verify=false"},
	}
	if out, err := p.cmd("pull", "-q", "--tls-verify=false", ref).CombinedOutput(); err != nil {
		return p, fmt.Errorf("pull failed: %v: %s", err, firstLine(string(out)))
	}
	if out, err := exec.Command(bin, p.run("--rm", "--network", "none", ref, "true")...).CombinedOutput(); err != nil {
		if _, lerr := exec.LookPath("runc"); lerr != nil {
			return p, fmt.Errorf("run failed (%s); on a hybrid cgroup host, apt-get install runc", firstLine(string(out)))
		}
		fmt.Printf("podman's default runtime failed (%s); using runc\n", firstLine(string(out)))
		p.runArgs = append(p.runArgs, "--runtime", "runc")
	}
	return p, nil
}

// figures are one engine's medians, in seconds, and its keeper's RSS.
type figures struct {
	start, startLimited, startBridge, ps, exec, rss float64
}

// measure times starts, then starts a fleet of detached containers and
// times ps and exec among them, and sums its keepers' memory.
func measure(e engine, ref string, starts, fleet int) (figures, error) {
	var f figures
	var err error
	if f.start, err = latency(starts, e.bin, e.run("--rm", "--network", "none", ref, "true")...); err != nil {
		return f, fmt.Errorf("%s run: %w", e.name, err)
	}
	if f.startLimited, err = latency(starts, e.bin, e.run("--rm", "--network", "none", "--memory", "64m", ref, "true")...); err != nil {
		return f, fmt.Errorf("%s run --memory: %w", e.name, err)
	}
	if f.startBridge, err = latency(starts, e.bin, e.run("--rm", "--network", "bridge", ref, "true")...); err != nil {
		return f, fmt.Errorf("%s run on the bridge: %w", e.name, err)
	}
	for i := 0; i < fleet; i++ {
		if out, err := exec.Command(e.bin, e.run("-d", "--network", "none", "--name", fmt.Sprintf("fleet%d", i), ref, "sleep", "100000")...).CombinedOutput(); err != nil {
			return f, fmt.Errorf("%s run -d: %v: %s", e.name, err, out)
		}
	}
	defer func() {
		args := []string{"rm", "-f"}
		for i := 0; i < fleet; i++ {
			args = append(args, fmt.Sprintf("fleet%d", i))
		}
		e.cmd(args...).Run()
	}()
	if f.ps, err = latency(starts, e.bin, append(e.global, "ps")...); err != nil {
		return f, fmt.Errorf("%s ps: %w", e.name, err)
	}
	if f.exec, err = latency(starts, e.bin, append(e.global, "exec", "fleet0", "true")...); err != nil {
		return f, fmt.Errorf("%s exec: %w", e.name, err)
	}
	f.rss = keeperRSS(e, fleet)
	fmt.Printf("%-7s run --rm true %6.1f ms (--memory 64m %6.1f ms, bridge %6.1f ms) | with %d running: ps %6.1f ms, exec %6.1f ms | keeper RSS %5.2f MB\n",
		e.name, f.start*1000, f.startLimited*1000, f.startBridge*1000, fleet, f.ps*1000, f.exec*1000, f.rss)
	return f, nil
}

// keeperRSS is the mean RSS in MB of the processes that keep each
// container: tug's monitors, podman's conmons.
func keeperRSS(e engine, n int) float64 {
	want := "tug-monitor"
	if e.name == "podman" {
		want = "conmon"
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var kb float64
	for _, p := range procs {
		b, _ := os.ReadFile(p)
		args := strings.Split(string(b), "\x00")
		// tug's monitors name their store; podman's conmons do not, so
		// no other podman should run during the benchmark
		if !strings.HasSuffix(args[0], want) || e.name == "tug" && !strings.Contains(string(b), e.global[1]) {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		kb += vmField(pid, "VmRSS:")
	}
	return kb / 1024 / float64(n)
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

// benchHealth runs fleet detached containers, each with a healthcheck
// every second, and measures over secs seconds the CPU their monitors
// use themselves (the probes' processes, helper and command, are their
// children: counted apart), and each monitor's memory against a monitor
// with none: RSS, which counts the pages of tug's binary that every tug
// shares, and PSS and private memory, which are what one more monitor
// costs. podman, where installed, gives the cost of one probe its way:
// `podman healthcheck run`, which its systemd timer runs each interval.
func benchHealth(tug, dir, reg string, fleet, secs int) error {
	ref := reg + "/library/busybox:latest"
	root := mkdir(dir, "health")
	e := engine{name: "tug", bin: tug, global: []string{"--root", mkdir(root, "tug-root"), "--runroot", mkdir(root, "tug-run")}}
	if out, err := e.cmd("pull", "-q", ref).CombinedOutput(); err != nil {
		return fmt.Errorf("tug pull: %v: %s", err, out)
	}
	names := []string{"plain"}
	if out, err := exec.Command(tug, e.run("-d", "--network", "none", "--name", "plain", ref, "sleep", "100000")...).CombinedOutput(); err != nil {
		return fmt.Errorf("tug run -d: %v: %s", err, out)
	}
	for i := range fleet {
		n := fmt.Sprintf("hc%d", i)
		names = append(names, n)
		if out, err := exec.Command(tug, e.run("-d", "--network", "none", "--name", n, "--health-cmd", "true", "--health-interval", "1s", ref, "sleep", "100000")...).CombinedOutput(); err != nil {
			return fmt.Errorf("tug run -d: %v: %s", err, out)
		}
	}
	defer e.cmd(append([]string{"rm", "-f"}, names...)...).Run()
	monitors := map[string]int{}
	for _, n := range names {
		out, err := e.cmd("inspect", "--format", "{{.State.Pid}}", n).Output()
		if err != nil {
			return fmt.Errorf("inspect %s: %w", n, err)
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(string(out)))
		monitors[n] = parentOf(pid)
	}
	time.Sleep(3 * time.Second) // every container healthy, its monitor settled
	cpu := func() (own, children float64) {
		for n, pid := range monitors {
			if n != "plain" {
				o, c := procTicks(pid)
				own, children = own+o, children+c
			}
		}
		return own, children
	}
	own0, children0 := cpu()
	start := time.Now()
	time.Sleep(time.Duration(secs) * time.Second)
	own1, children1 := cpu()
	elapsed := time.Since(start).Seconds()
	used := (own1 - own0) / 100 / elapsed // of one core; 100 ticks a second
	probes := float64(fleet) * elapsed    // one a second each
	perProbe, probeCost := (own1-own0)*10/probes, (children1-children0)*10/probes
	mem := func(pid int) (rss, pss, private float64) {
		return vmField(pid, "VmRSS:") / 1024, rollupField(pid, "Pss:") / 1024,
			(rollupField(pid, "Private_Dirty:") + rollupField(pid, "Private_Clean:")) / 1024
	}
	var rss, pss, private float64
	for n, pid := range monitors {
		if n != "plain" {
			r, p, v := mem(pid)
			rss, pss, private = rss+r/float64(fleet), pss+p/float64(fleet), private+v/float64(fleet)
		}
	}
	plainRSS, plainPSS, plainPrivate := mem(monitors["plain"])
	fmt.Printf("tug healthchecks: %d containers, one probe a second each, over %d s: monitors' own CPU %.2f%% of a core (target < 1%%), %.2f ms a probe; the probe's processes %.2f ms\n",
		fleet, secs, used*100, perProbe, probeCost)
	fmt.Printf("tug healthchecks: per monitor over one without: PSS %+.2f MB, private %+.2f MB (target < 1); RSS %+.2f MB, counting tug's shared text (%.2f MB, %.2f MB, %.2f MB in all)\n",
		pss-plainPSS, private-plainPrivate, rss-plainRSS, pss, private, rss)
	return benchPodmanProbe(root, ref, perProbe+probeCost)
}

// benchPodmanProbe is what one probe costs podman, whose healthchecks
// are a systemd timer running `podman healthcheck run` each interval:
// that command's CPU, with its children's, against tug's whole probe
// (monitor, helper and command), tugMs.
func benchPodmanProbe(root, ref string, tugMs float64) error {
	p, err := podmanEngine(root, ref)
	if err != nil {
		fmt.Printf("podman:                   %s; no comparison\n", err)
		return nil
	}
	defer p.cmd("system", "reset", "-f").Run()
	if out, err := exec.Command(p.bin, p.run("-d", "--network", "none", "--name", "hc", "--health-cmd", "true", "--health-interval", "1h", ref, "sleep", "100000")...).CombinedOutput(); err != nil {
		return fmt.Errorf("podman run -d: %v: %s", err, out)
	}
	const runs = 10
	var total time.Duration
	for range runs {
		cmd := p.cmd("healthcheck", "run", "hc")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("podman healthcheck run: %v: %s", err, out)
		}
		total += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	podmanMs := float64(total.Microseconds()) / 1000 / runs
	fmt.Printf("podman healthcheck run:   %.1f ms of CPU a probe (mean of %d); tug/podman %.3f\n", podmanMs, runs, tugMs/podmanMs)
	return nil
}

// parentOf is the parent of pid: a container's monitor.
func parentOf(pid int) int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

// procTicks is the CPU time pid has used, in clock ticks: its own
// (utime and stime) and its reaped children's (cutime and cstime).
func procTicks(pid int) (own, children float64) {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 15 {
		return 0, 0
	}
	var t [4]float64
	for i := range t {
		t[i], _ = strconv.ParseFloat(f[11+i], 64)
	}
	return t[0] + t[1], t[2] + t[3]
}

// rollupField is a field of /proc/PID/smaps_rollup, in kB.
func rollupField(pid int, field string) float64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			var kb float64
			fmt.Sscanf(strings.TrimSpace(rest), "%f", &kb)
			return kb
		}
	}
	return 0
}
