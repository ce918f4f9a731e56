package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
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
	fmt.Printf("docker CLI alone: ps of the same %d rows from a server that answers at once %5.1f ms\n", fleet, tf.psCanned*1000)
	return withPodman(root, ref, func(p engine) error {
		pf, err := apiTimes(docker, p, filepath.Join(root, "podman.sock"), ref, runs, fleet)
		if err != nil {
			return err
		}
		fmt.Printf("podman API: docker run --rm true %7.1f ms, docker ps: none %5.1f ms, %d running %5.1f ms\n", pf.run*1000, pf.psNone*1000, fleet, pf.ps*1000)
		fmt.Printf("tug/podman: API docker run %.3f, docker ps %.3f (targets ≤ 0.33); the docker CLI alone %.3f\n",
			tf.run/pf.run, tf.ps/pf.ps, tf.psCanned/pf.ps)
		return nil
	})
}

// apiFigures are one engine's API times, in seconds. docker ps with no
// container is the docker CLI's own start, near enough; psCanned is its
// ps of the same rows from a server that answers at once.
type apiFigures struct{ run, psNone, ps, psCanned float64 }

// apiTimes starts e's API service on sock and times the docker CLI's
// run, then its ps with fleet containers that e's own CLI started; it
// removes them and stops the service after.
func apiTimes(docker string, e engine, sock, ref string, runs, fleet int) (f apiFigures, err error) {
	stop, err := serveAPI(e, sock)
	if err != nil {
		return f, err
	}
	defer stop()
	timeIt := func(runs int, args ...string) (float64, error) {
		return dockerTimes(docker, e.name, sock, runs, args...)
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
	if f.ps, err = timeIt(3*runs, "ps"); err != nil { // a short one, and noisy: more runs
		return f, err
	}
	f.psCanned, err = cannedPs(docker, sock, 3*runs)
	return f, err
}

// serveAPI starts e's system service on sock, and returns once the
// socket is there, with what stops it.
func serveAPI(e engine, sock string) (stop func(), err error) {
	svc := e.cmd("system", "service", "--time", "0", "unix://"+sock)
	if err := svc.Start(); err != nil {
		return nil, err
	}
	for i := 0; i < 200; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	return func() {
		svc.Process.Signal(syscall.SIGTERM)
		svc.Wait()
	}, nil
}

// dockerTimes is the median time of the docker CLI's args against the
// API on sock, over runs after one that warms the caches.
func dockerTimes(docker, name, sock string, runs int, args ...string) (float64, error) {
	var secs []float64
	for i := 0; i < runs+1; i++ {
		cmd := exec.Command(docker, append([]string{"-H", "unix://" + sock}, args...)...)
		cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+filepath.Dir(sock))
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			return 0, fmt.Errorf("%s docker %s: %v: %s", name, strings.Join(args, " "), err, out)
		}
		if i > 0 {
			secs = append(secs, time.Since(start).Seconds())
		}
	}
	return medianOf(secs), nil
}

// cannedPs times docker ps against a server that answers at once with
// the list the API on sock gave: what the docker CLI itself takes for
// those rows, the floor of any engine's docker ps.
func cannedPs(docker, sock string, runs int) (float64, error) {
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	resp, err := hc.Get("http://api/containers/json")
	if err != nil {
		return 0, err
	}
	list, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, err
	}
	canned := filepath.Join(filepath.Dir(sock), "canned.sock")
	l, err := net.Listen("unix", canned)
	if err != nil {
		return 0, err
	}
	defer l.Close()
	go http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", "1.44")
		if strings.HasSuffix(r.URL.Path, "/containers/json") {
			w.Header().Set("Content-Type", "application/json")
			w.Write(list)
			return
		}
		io.WriteString(w, "OK")
	}))
	return dockerTimes(docker, "canned", canned, runs, "ps")
}
