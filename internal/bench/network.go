package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"time"
)

// downloadBytes is the size of the file the throughput figure fetches.
const downloadBytes = 1 << 30

// benchPublished compares a 1 GiB HTTP download from a container on the
// bridge through a published port (the host's 127.0.0.1, DNAT) with the
// same download straight from the container's address.
func benchPublished(e engine, ref string, runs int) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	serve := fmt.Sprintf("dd if=/dev/zero of=/srv/big bs=1M count=%d 2>/dev/null && exec httpd -f -p 80 -h /srv", downloadBytes>>20)
	out, err := output(e.bin, e.run("-d", "--name", "netbench", "--network", "bridge", "--tmpfs", "/srv:size=1100m",
		"-p", fmt.Sprintf("127.0.0.1:%d:80", port), ref, "sh", "-c", serve)...)
	if err != nil {
		return fmt.Errorf("%s run httpd: %v: %s", e.name, err, out)
	}
	defer e.cmd("rm", "-f", "netbench").Run()
	ip, err := output(e.bin, append(e.global, "inspect", "--format", "{{.NetworkSettings.IPAddress}}", "netbench")...)
	if err != nil {
		return fmt.Errorf("%s inspect: %v: %s", e.name, err, ip)
	}
	published := fmt.Sprintf("http://127.0.0.1:%d/big", port)
	direct := fmt.Sprintf("http://%s/big", strings.TrimSpace(ip))
	if err := awaitHTTP(direct, 30*time.Second); err != nil {
		return err
	}
	var pub, dir []float64
	for i := 0; i < runs; i++ { // alternate, as the machine's load drifts
		d, err := download(direct)
		if err != nil {
			return err
		}
		p, err := download(published)
		if err != nil {
			return err
		}
		dir, pub = append(dir, d), append(pub, p)
	}
	mb := float64(downloadBytes) / 1e6
	dm, pm := medianOf(dir), medianOf(pub)
	fmt.Printf("%-7s 1 GiB over HTTP: from the container's address %6.0f MB/s, through -p 127.0.0.1:%d %6.0f MB/s: %.2f (target ≥ 0.9)  (median of %d; %s)\n",
		e.name, mb/dm, port, mb/pm, dm/pm, runs, path(port))
	return nil
}

// path tells how a connection to the published port reaches the
// container: redirected at connect(2), it leaves from the bridge's
// gateway rather than from the loopback.
func path(port int) string {
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return err.Error()
	}
	defer c.Close()
	if !c.LocalAddr().(*net.TCPAddr).IP.IsLoopback() {
		return "connect redirected to the container"
	}
	return "through DNAT"
}

// output runs a command and returns its output.
func output(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}

// freePort returns a TCP port of 127.0.0.1 that nothing listens on.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// awaitHTTP waits until url serves the whole download.
func awaitHTTP(url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Head(url)
		if err == nil {
			resp.Body.Close()
			if resp.ContentLength == downloadBytes {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not served within %s (last error: %v)", url, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// download fetches url to nowhere and returns how long it took.
func download(url string) (float64, error) {
	start := time.Now()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil || n != downloadBytes {
		return 0, fmt.Errorf("download %s: %d bytes: %v", url, n, err)
	}
	return time.Since(start).Seconds(), nil
}
