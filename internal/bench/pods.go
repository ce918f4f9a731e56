package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// benchPods times `pod create` then two `run -d --pod` (the first of
// which starts the pod), tug's and podman's, median of runs, and the
// memory of tug's infra container: its monitor, the pod's keeper.
func benchPods(tug, dir, reg string, runs int) error {
	ref := reg + "/library/busybox:latest"
	root := mkdir(dir, "pods")
	t := engine{name: "tug", bin: tug, global: []string{"--root", mkdir(root, "tug-root"), "--runroot", mkdir(root, "tug-run")}}
	if out, err := t.cmd("pull", "-q", ref).CombinedOutput(); err != nil {
		return fmt.Errorf("tug pull: %v: %s", err, out)
	}
	tt, err := podTimes(t, ref, runs)
	if err != nil {
		return err
	}
	fmt.Printf("tug pod create + 2 run --pod: %7.1f ms  (median of %d)\n", tt*1000, runs)
	if err := infraMemory(t, ref); err != nil {
		return err
	}
	return versusPodman(root, ref, "pod create + 2 run --pod", tt, func(p engine) (float64, error) { return podTimes(p, ref, runs) })
}

// versusPodman times what measure does with podman, set up for pods, and
// prints it against tug's figure.
func versusPodman(root, ref, what string, tugSecs float64, measure func(engine) (float64, error)) error {
	return withPodman(root, ref, func(p engine) error {
		secs, err := measure(p)
		if err != nil {
			return err
		}
		fmt.Printf("podman %s: %7.1f ms\n", what, secs*1000)
		fmt.Printf("tug/podman: %s %.3f (target ≤ 0.2)\n", what, tugSecs/secs)
		return nil
	})
}

// withPodman runs f with podman set up for pods and the API (its store
// in root, ref pulled, the container defaults this host needs), then
// resets podman's store; without podman it says so and runs nothing.
func withPodman(root, ref string, f func(engine) error) error {
	p, err := podmanEngine(root, ref)
	if err != nil {
		fmt.Printf("podman:                   %s; no comparison\n", err)
		return nil
	}
	defer p.cmd("system", "reset", "-f").Run()
	if p.env, err = podmanPodConf(root, p); err != nil {
		return err
	}
	return f(p)
}

// podTimes is the median time of a pod's create and two members' runs;
// each pod is removed after, untimed.
func podTimes(e engine, ref string, runs int) (float64, error) {
	var secs []float64
	for i := range runs {
		name := fmt.Sprintf("bench-pod-%d", i)
		steps := [][]string{
			append(append([]string{}, e.global...), "pod", "create", "--name", name),
			e.run("-d", "--pod", name, ref, "sleep", "600"),
			e.run("-d", "--pod", name, ref, "sleep", "600"),
		}
		start := time.Now()
		for _, args := range steps {
			if out, err := e.command(args).CombinedOutput(); err != nil {
				return 0, fmt.Errorf("%s %s: %v: %s", e.name, strings.Join(args, " "), err, out)
			}
		}
		secs = append(secs, time.Since(start).Seconds())
		if out, err := e.cmd("pod", "rm", "-f", "-t", "0", name).CombinedOutput(); err != nil {
			return 0, fmt.Errorf("%s pod rm: %v: %s", e.name, err, out)
		}
	}
	return medianOf(secs), nil
}

// infraMemory prints the RSS and PSS of a running pod's keeper, the
// infra container's monitor, which holds the pod's namespaces and is
// tug's cost of a pod beyond its members.
func infraMemory(t engine, ref string) error {
	if out, err := t.cmd("pod", "create", "--name", "bench-mem").CombinedOutput(); err != nil {
		return fmt.Errorf("tug pod create: %v: %s", err, out)
	}
	defer t.cmd("pod", "rm", "-f", "-t", "0", "bench-mem").Run()
	if out, err := t.cmd("pod", "start", "bench-mem").CombinedOutput(); err != nil {
		return fmt.Errorf("tug pod start: %v: %s", err, out)
	}
	out, err := t.cmd("pod", "inspect", "--format", "{{.InfraContainerID}}", "bench-mem").Output()
	if err == nil {
		out, err = t.cmd("inspect", "--format", "{{.State.Pid}}", strings.TrimSpace(string(out))).Output()
	}
	if err != nil {
		return fmt.Errorf("tug inspect of the infra container: %v", err)
	}
	keeper, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	time.Sleep(500 * time.Millisecond) // the keeper's give-back of its pages
	fmt.Printf("tug pod's keeper:         one process, RSS %.2f MB PSS %.2f MB\n",
		rollupField(keeper, "Rss:")/1024, rollupField(keeper, "Pss:")/1024)
	return nil
}

// podmanPodConf writes a containers.conf for podman's pods: an infra
// container takes no --ulimit, so the limits podmanEngine gives each run
// (and its runtime) go in as defaults. It returns the environment that
// names it.
func podmanPodConf(root string, p engine) ([]string, error) {
	nofile := hardLimit(syscall.RLIMIT_NOFILE)
	conf := fmt.Sprintf("[containers]\ndefault_ulimits = [\"nofile=%d:%d\", \"nproc=4096:4096\"]\n", nofile, nofile)
	if i := slices.Index(p.runArgs, "--runtime"); i >= 0 {
		conf += fmt.Sprintf("[engine]\nruntime = %q\n", p.runArgs[i+1])
	}
	path := filepath.Join(root, "containers.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	return []string{"CONTAINERS_CONF=" + path}, nil
}

// benchKube times kube play of a Deployment of 3 busybox replicas,
// tug's and podman's, median of runs; each is taken down after,
// untimed.
func benchKube(tug, dir, reg string, runs int) error {
	ref := reg + "/library/busybox:latest"
	root := mkdir(dir, "kube")
	yaml := filepath.Join(root, "deployment.yaml")
	doc := fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: bench}
spec:
  replicas: 3
  selector: {matchLabels: {app: bench}}
  template:
    metadata: {labels: {app: bench}}
    spec:
      containers:
      - {name: box, image: %s, imagePullPolicy: IfNotPresent, command: [sleep, "600"]}
`, ref)
	if err := os.WriteFile(yaml, []byte(doc), 0o644); err != nil {
		return err
	}
	t := engine{name: "tug", bin: tug, global: []string{"--root", mkdir(root, "tug-root"), "--runroot", mkdir(root, "tug-run")}}
	if out, err := t.cmd("pull", "-q", ref).CombinedOutput(); err != nil {
		return fmt.Errorf("tug pull: %v: %s", err, out)
	}
	tt, err := playTimes(t, yaml, runs, "-t", "0")
	if err != nil {
		return err
	}
	fmt.Printf("tug kube play (3 replicas):    %7.1f ms  (median of %d)\n", tt*1000, runs)
	return versusPodman(root, ref, "kube play (3 replicas)", tt, func(p engine) (float64, error) { return playTimes(p, yaml, runs) })
}

// playTimes is the median time of kube play of yaml; kube down (with
// downArgs) follows each, untimed.
func playTimes(e engine, yaml string, runs int, downArgs ...string) (float64, error) {
	var secs []float64
	for range runs {
		start := time.Now()
		if out, err := e.cmd("kube", "play", yaml).CombinedOutput(); err != nil {
			return 0, fmt.Errorf("%s kube play: %v: %s", e.name, err, out)
		}
		secs = append(secs, time.Since(start).Seconds())
		if out, err := e.cmd(append(append([]string{"kube", "down"}, downArgs...), yaml)...).CombinedOutput(); err != nil {
			return 0, fmt.Errorf("%s kube down: %v: %s", e.name, err, out)
		}
	}
	return medianOf(secs), nil
}
