package run

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"tug/run/child"
	"tug/run/childspec"
)

// A probe a second for each of fifty containers must cost their
// monitors next to nothing, and on a machine where each thread switch
// is dear, Go's usual ways (exec.Cmd, a goroutine blocked in wait4, pipes
// read as data comes) cost many per probe: a goroutine blocked in a
// syscall wakes the runtime's sysmon, which takes its P back and then
// polls every 20 µs for a while. So the helper does the probe's work
// (reads its output, keeps its timeout: child/probe.go) and the prober
// only forks it (ForkExec: a vfork), hands it its spec, and waits in the
// netpoller for its pidfd; the sync pipe and the report are read once it
// exited, from the pipes' buffers.

// probeGrace is how long past its probe's timeout a helper may take
// before it is killed itself.
const probeGrace = 5 * time.Second

// probe runs the helper with spec (a probe's, encoded) and returns the
// probe's exit code and what the helper reports of it.
func (h *helper) probe(spec []byte, null *os.File, timeout time.Duration) (int, childspec.ProbeResult, error) {
	specP, syncP, reportP := [2]int{-1, -1}, [2]int{-1, -1}, [2]int{-1, -1}
	// each end is closed once: at the end, unless closed (and set to -1)
	// before, so that no fd number another goroutine took meanwhile is
	// closed in its stead
	defer func() {
		for _, fd := range []int{specP[0], specP[1], syncP[0], syncP[1], reportP[0], reportP[1]} {
			if fd >= 0 {
				unix.Close(fd)
			}
		}
	}()
	for _, p := range []*[2]int{&specP, &syncP, &reportP} {
		if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
			return 0, childspec.ProbeResult{}, fmt.Errorf("probe: %w", err)
		}
	}
	// Pdeathsig ties the helper to the thread that forks it, which lives
	// as long as the process: only a locked thread's goroutine exiting
	// ends a Go thread.
	pidfd := -1
	pid, err := syscall.ForkExec(h.path, h.args, &syscall.ProcAttr{
		Env: h.env,
		// the helper's stderr too: a Go panic's text is its report then
		Files: []uintptr{null.Fd(), uintptr(reportP[1]), uintptr(reportP[1]), uintptr(specP[0]), uintptr(syncP[1]), h.pidFile.Fd()},
		Sys:   &syscall.SysProcAttr{Pdeathsig: unix.SIGKILL, PidFD: &pidfd},
	})
	if err != nil {
		return 0, childspec.ProbeResult{}, fmt.Errorf("probe: %w", err)
	}
	for _, fd := range []*int{&specP[0], &syncP[1], &reportP[1]} {
		unix.Close(*fd)
		*fd = -1
	}
	_, werr := unix.Write(specP[1], spec) // the helper reads it first thing
	unix.Close(specP[1])
	specP[1] = -1
	if werr != nil {
		unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
	}
	ws, err := awaitHelper(pid, pidfd, timeout+probeGrace)
	if err == nil && werr != nil {
		err = fmt.Errorf("probe: send spec: %w", werr)
	}
	if err != nil {
		return 0, childspec.ProbeResult{}, err
	}
	if err := child.ReadStatus(bytes.NewReader(readToEOF(syncP[0]))); err != nil {
		return 0, childspec.ProbeResult{}, err
	}
	report := readToEOF(reportP[0])
	var r childspec.ProbeResult
	if err := json.Unmarshal(report, &r); err != nil {
		return 0, r, fmt.Errorf("probe: the helper reported %q", bytes.TrimSpace(report))
	}
	return child.ExitStatus(ws), r, nil
}

// awaitHelper reaps the helper once its pidfd (which it closes) is
// readable, killing it past limit: SIGTERM (on which it kills its
// probe's group), SIGKILL a second later.
func awaitHelper(pid, pidfd int, limit time.Duration) (unix.WaitStatus, error) {
	var ws unix.WaitStatus
	unix.SetNonblock(pidfd, true)            // a pidfd always can be
	f := os.NewFile(uintptr(pidfd), "pidfd") // in the netpoller, closed with f
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return ws, err
	}
	reaped := func(uintptr) bool {
		got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		return got == pid || err != nil && err != unix.EINTR
	}
	f.SetReadDeadline(time.Now().Add(limit))
	if errors.Is(rc.Read(reaped), os.ErrDeadlineExceeded) { // it hangs
		unix.PidfdSendSignal(pidfd, unix.SIGTERM, nil, 0)
		f.SetReadDeadline(time.Now().Add(time.Second))
		if errors.Is(rc.Read(reaped), os.ErrDeadlineExceeded) {
			unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
			f.SetReadDeadline(time.Time{})
			rc.Read(reaped)
		}
	}
	return ws, nil
}

// readToEOF reads what a pipe whose writers are gone holds.
func readToEOF(fd int) []byte {
	var b []byte
	buf := make([]byte, 4096)
	for {
		n, err := unix.Read(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if n <= 0 {
			return b
		}
		b = append(b, buf[:n]...)
	}
}
