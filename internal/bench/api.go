package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// benchAPI times the docker CLI through each engine's API socket, tug's
// system service and podman's: `docker run --rm --network none busybox
// true`, median of runs, and `docker ps` with fleet containers running.
func benchAPI(tug, dir, reg string, runs, fleet int) error {
	docker, err := exec.LookPath("docker")
	if err != nil {
		fmt.Println("api: no docker CLI here; skipped")
		return nil
	}
	ref := reg + "/library/busybox:latest"
	root := mkdir(dir, "api")
	t := engine{name: "tug", bin: tug, global: []string{"--root", mkdir(root, "tug-root"), "--runroot", mkdir(root, "tug-run")}}
	if out, err := t.cmd("pull", "-q", ref).CombinedOutput(); err != nil {
		return fmt.Errorf("tug pull: %v: %s", err, out)
	}
	tf, err := apiTimes(docker, t, filepath.Join(root, "tug.sock"), ref, runs, fleet)
	if err != nil {
		return err
	}
	fmt.Printf("tug API: docker run --rm true %7.1f ms, docker ps: none %5.1f ms, %d running %5.1f ms  (medians of %d, %d)\n",
		tf.run*1000, tf.psNone*1000, fleet, tf.ps*1000, runs, 3*runs)
	return withPodman(root, ref, func(p engine) error {
		pf, err := apiTimes(docker, p, filepath.Join(root, "podman.sock"), ref, runs, fleet)
		if err != nil {
			return err
		}
		fmt.Printf("podman API: docker run --rm true %7.1f ms, docker ps: none %5.1f ms, %d running %5.1f ms\n", pf.run*1000, pf.psNone*1000, fleet, pf.ps*1000)
		fmt.Printf("tug/podman: API docker run %.3f, docker ps %.3f (targets ≤ 0.33)\n", tf.run/pf.run, tf.ps/pf.ps)
		return nil
	})
}

// apiFigures are one engine's API times, in seconds: docker ps with no
// container is the docker CLI's own floor, near enough.
type apiFigures struct{ run, psNone, ps float64 }

// apiTimes starts e's API service on sock and times the docker CLI's
// run, then its ps with fleet containers that e's own CLI started; it
// removes them and stops the service after.
func apiTimes(docker string, e engine, sock, ref string, runs, fleet int) (f apiFigures, err error) {
	svc := e.cmd("system", "service", "--time", "0", "unix://"+sock)
	if err := svc.Start(); err != nil {
		return f, err
	}
	defer func() {
		svc.Process.Signal(syscall.SIGTERM)
		svc.Wait()
	}()
	for i := 0; i < 200; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	cli := func(args ...string) *exec.Cmd {
		cmd := exec.Command(docker, append([]string{"-H", "unix://" + sock}, args...)...)
		cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+filepath.Dir(sock))
		return cmd
	}
	timeIt := func(runs int, args ...string) (float64, error) {
		var secs []float64
		for i := 0; i < runs+1; i++ {
			cmd := cli(args...)
			start := time.Now()
			if out, err := cmd.CombinedOutput(); err != nil {
				return 0, fmt.Errorf("%s docker %s: %v: %s", e.name, strings.Join(args, " "), err, out)
			}
			if i > 0 { // the first warms the caches
				secs = append(secs, time.Since(start).Seconds())
			}
		}
		return medianOf(secs), nil
	}
	if f.run, err = timeIt(runs, "run", "--rm", "--network", "none", ref, "true"); err != nil {
		return f, err
	}
	if f.psNone, err = timeIt(3*runs, "ps"); err != nil {
		return f, err
	}
	defer e.cmd("rm", "-f", "-a").Run()
	for i := 0; i < fleet; i++ {
		if out, err := e.command(e.run("-d", "--network", "none", ref, "sleep", "600")).CombinedOutput(); err != nil {
			return f, fmt.Errorf("%s run -d: %v: %s", e.name, err, out)
		}
	}
	// the same settled machine for both engines: the fleet's files
	// written out, not flushed under the timed runs
	syscall.Sync()
	time.Sleep(time.Second)
	f.ps, err = timeIt(3*runs, "ps") // a short one, and noisy: more runs
	return f, err
}
