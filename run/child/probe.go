package child

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"tug/run/childspec"
)

// A healthcheck's probe is the helper's command with three differences:
// it runs in a process group of its own; its output goes to a pipe the
// helper reads, so that the prober (the container's monitor, a probe a
// second for some) only waits for the helper to exit and reads what it
// reports; and the helper keeps the probe's timeout.

// probeOutput makes the pipe of a probe's output: its read end, in the
// netpoller, and its write end, which blocks (a probe that writes much
// waits for the reader) and is the probe's stdout and stderr.
func probeOutput() (*os.File, int, error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return nil, -1, fmt.Errorf("probe output: %w", err)
	}
	if err := unix.SetNonblock(p[0], true); err != nil {
		unix.Close(p[0])
		unix.Close(p[1])
		return nil, -1, fmt.Errorf("probe output: %w", err)
	}
	return os.NewFile(uintptr(p[0]), "probe output"), p[1], nil
}

// reportProbe waits for the probe, keeping the first 4 KiB of its
// output and reading the rest away, then writes a ProbeResult to the
// helper's stdout and returns the probe's code.
func reportProbe(child int, output *os.File, timeout time.Duration, sigs chan os.Signal) (int, error) {
	out := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(output, childspec.MaxProbeOutput))
		io.Copy(io.Discard, output)
		out <- b
	}()
	code, timedOut := reapProbe(child, timeout, sigs)
	// A process that left the probe's group may keep the pipe open: its
	// output is not waited for long.
	output.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	r := childspec.ProbeResult{Output: string(<-out), TimedOut: timedOut}
	if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
		return 0, fmt.Errorf("report probe: %w", err)
	}
	return code, nil
}

// reapProbe waits for the probe and returns its code. Past timeout, or
// on any signal the helper gets, it kills the probe's process group; and
// once the probe exited, what else is left in the group, while the
// probe's zombie still holds the group's id (so that no other process
// can have taken it).
func reapProbe(child int, timeout time.Duration, sigs chan os.Signal) (code int, timedOut bool) {
	exited := make(chan struct{})
	go func() {
		var info unix.Siginfo
		for {
			err := unix.Waitid(unix.P_PID, child, &info, unix.WEXITED|unix.WNOWAIT, nil)
			if !errors.Is(err, unix.EINTR) {
				break
			}
		}
		close(exited)
	}()
	var deadline <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		deadline = t.C
	}
	for waiting := true; waiting; {
		select {
		case <-exited:
			waiting = false
		case <-deadline:
			deadline = nil
			timedOut = true
			unix.Kill(-child, unix.SIGKILL)
		case s := <-sigs:
			if s != unix.SIGCHLD && s != unix.SIGURG { // SIGURG: Go's own preemption
				unix.Kill(-child, unix.SIGKILL)
			}
		}
	}
	unix.Kill(-child, unix.SIGKILL)
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(child, &ws, 0, nil)
		if err != unix.EINTR {
			break
		}
	}
	return ExitStatus(ws), timedOut
}

// dialProbe makes a network probe from this thread, which is in the
// container's network namespace (a socket belongs to the namespace of
// the thread that makes it), reports it as reportProbe does, and
// returns 0 for a success, 1 for a failure.
func dialProbe(d *childspec.Dial, timeout time.Duration) int {
	out, err := dial(d, timeout)
	code := 0
	if err != nil {
		out, code = err.Error(), 1
	}
	r := childspec.ProbeResult{Output: out, TimedOut: errors.Is(err, os.ErrDeadlineExceeded)}
	if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
		return 1
	}
	return code
}

// dial makes the probe on this goroutine, locked to the thread in the
// container's network namespace; http.Client would dial from another
// goroutine, on a thread in the host's, so the GET is written by hand on
// a connection made here.
func dial(d *childspec.Dial, timeout time.Duration) (string, error) {
	target := d.TCP
	var u *url.URL
	if d.HTTP != "" {
		var err error
		if u, err = url.Parse(d.HTTP); err != nil {
			return "", err
		}
		target = u.Host
	}
	c, err := net.DialTimeout("tcp", target, timeout)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if u == nil {
		return "connected to " + target, nil
	}
	c.SetDeadline(time.Now().Add(timeout))
	if u.Scheme == "https" {
		// the kubelet's https probe checks no certificate either
		c = tls.Client(c, &tls.Config{InsecureSkipVerify: true, ServerName: u.Hostname()})
	}
	req, err := http.NewRequest(http.MethodGet, d.HTTP, nil)
	if err != nil {
		return "", err
	}
	req.Close = true
	req.Header.Set("User-Agent", "tug-probe")
	if err := req.Write(c); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), req)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 399 {
		return "", fmt.Errorf("GET %s: %s", d.HTTP, resp.Status)
	}
	return "GET " + d.HTTP + ": " + resp.Status, nil
}
