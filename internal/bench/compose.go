package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// benchCompose times `compose up -d` then `down` of a 3-service project
// (a web server with a published port, and two sleepers, on the
// project's network), tug compose's against docker-compose through
// podman system service's socket, median of runs.
func benchCompose(tug, dir, reg string, runs int) error {
	ref := reg + "/library/busybox:latest"
	root := mkdir(dir, "compose")
	file := filepath.Join(root, "compose.yaml")
	yaml := fmt.Sprintf(`services:
  web:
    image: %[1]s
    command: httpd -f -p 80
    ports: ["127.0.0.1:18777:80"]
    depends_on: [db]
  db:
    image: %[1]s
    command: sleep 600
  worker:
    image: %[1]s
    command: sleep 600
`, ref)
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		return err
	}
	t := engine{name: "tug", bin: tug, global: []string{"--root", mkdir(root, "tug-root"), "--runroot", mkdir(root, "tug-run")}}
	if out, err := t.cmd("pull", "-q", ref).CombinedOutput(); err != nil {
		return fmt.Errorf("tug pull: %v: %s", err, out)
	}
	tugSecs, err := composeTimes(runs, func(args ...string) *exec.Cmd {
		return t.cmd(append([]string{"compose", "-f", file, "-p", "bench"}, args...)...)
	})
	if err != nil {
		return err
	}
	fmt.Printf("tug compose up -d + down (3 services): %7.1f ms  (median of %d)\n", tugSecs*1000, runs)
	compose, err := exec.LookPath("docker-compose")
	if err != nil {
		fmt.Println("compose: no docker-compose here; no comparison")
		return nil
	}
	return withPodman(root, ref, func(p engine) error {
		sock := filepath.Join(root, "podman.sock")
		stop, err := serveAPI(p, sock)
		if err != nil {
			return err
		}
		defer stop()
		secs, err := composeTimes(runs, func(args ...string) *exec.Cmd {
			cmd := exec.Command(compose, append([]string{"-f", file, "-p", "bench"}, args...)...)
			cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+sock)
			return cmd
		})
		if err != nil {
			return err
		}
		fmt.Printf("docker-compose over podman's API, the same: %7.1f ms\n", secs*1000)
		fmt.Printf("tug/podman: compose up -d + down %.3f (target ≤ 0.25)\n", tugSecs/secs)
		return nil
	})
}

// composeTimes is the median time of `up -d` then `down -t 0` through
// compose, over runs after one that warms the caches.
func composeTimes(runs int, compose func(args ...string) *exec.Cmd) (float64, error) {
	var secs []float64
	for i := 0; i < runs+1; i++ {
		start := time.Now()
		for _, args := range [][]string{{"up", "-d"}, {"down", "-t", "0"}} {
			if out, err := compose(args...).CombinedOutput(); err != nil {
				return 0, fmt.Errorf("compose %s: %v: %s", strings.Join(args, " "), err, out)
			}
		}
		if i > 0 {
			secs = append(secs, time.Since(start).Seconds())
		}
	}
	return medianOf(secs), nil
}
