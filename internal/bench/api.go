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
	tugRun, tugPs, err := apiTimes(docker, t, filepath.Join(root, "tug.sock"), ref, runs, fleet)
	if err != nil {
		return err
	}
	fmt.Printf("tug API: docker run --rm true %7.1f ms, docker ps (%d running) %7.1f ms  (medians of %d)\n", tugRun*1000, fleet, tugPs*1000, runs)
	return withPodman(root, ref, func(p engine) error {
		podRun, podPs, err := apiTimes(docker, p, filepath.Join(root, "podman.sock"), ref, runs, fleet)
		if err != nil {
			return err
		}
		fmt.Printf("podman API: docker run --rm true %7.1f ms, docker ps %7.1f ms\n", podRun*1000, podPs*1000)
		fmt.Printf("tug/podman: API docker run %.3f, docker ps %.3f (targets ≤ 0.33)\n", tugRun/podRun, tugPs/podPs)
		return nil
	})
}

// apiTimes starts e's API service on sock and times the docker CLI's
// run, then its ps with fleet containers that e's own CLI started; it
// removes them and stops the service after.
func apiTimes(docker string, e engine, sock, ref string, runs, fleet int) (runSecs, psSecs float64, err error) {
	svc := e.cmd("system", "service", "--time", "0", "unix://"+sock)
	if err := svc.Start(); err != nil {
		return 0, 0, err
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
	timeIt := func(args ...string) (float64, error) {
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
	if runSecs, err = timeIt("run", "--rm", "--network", "none", ref, "true"); err != nil {
		return 0, 0, err
	}
	defer e.cmd("rm", "-f", "-a").Run()
	for i := 0; i < fleet; i++ {
		if out, err := e.command(e.run("-d", "--network", "none", ref, "sleep", "600")).CombinedOutput(); err != nil {
			return 0, 0, fmt.Errorf("%s run -d: %v: %s", e.name, err, out)
		}
	}
	psSecs, err = timeIt("ps")
	return runSecs, psSecs, err
}
