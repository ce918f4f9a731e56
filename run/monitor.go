package run

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"runtime/debug"
	"time"

	"golang.org/x/sys/unix"

	"tug/internal/textpages"
	"tug/run/child"
	"tug/store"
)

// The monitor keeps a detached container: it is tug re-executed as
// `tug-monitor ROOT RUNROOT ID` in a session of its own, with
//
//	fd 3  the ready pipe: nothing and EOF once the entrypoint runs, or
//	      one JSON initError if the start failed
//
// It is the container's parent: it writes its output to the log, reaps
// it, records its exit, applies the restart policy, and removes it with
// --rm. It holds no lock while it waits. A held container (a pod's
// infra container) has no process: its monitor holds its namespaces
// itself (hold.go).

const readyFD = 3

// defaultTimerSlack is Linux's default timer slack, 50 µs.
const defaultTimerSlack = 50_000

// Monitor is the main of the monitor role. It never returns.
func Monitor() {
	ready := os.NewFile(readyFD, "ready")
	unix.CloseOnExec(readyFD)
	err := monitor(os.Args[1:], ready)
	if err != nil && ready != nil {
		child.WriteStatus(ready, err)
	}
	os.Exit(0)
}

func monitor(args []string, ready *os.File) error {
	if len(args) != 3 && (len(args) != 4 || args[3] != awaitAttach) {
		return fmt.Errorf("monitor: want ROOT RUNROOT ID [%s]", awaitAttach)
	}
	s, err := store.Open(args[0], args[1])
	if err != nil {
		return err
	}
	c, err := s.LookupContainer(args[2])
	if err != nil {
		return err
	}
	cfg, err := ContainerConfig(c)
	if err != nil {
		return err
	}
	if err := enterMonitorScope(s, c, cfg); err != nil {
		return err
	}
	if cfg.Held {
		// Pdeathsig ties pasta or slirp4netns to the thread that starts them
		runtime.LockOSThread()
		sigs := make(chan os.Signal, 8)
		signal.Notify(sigs, child.Forwarded()...)
		return hold(s, c, cfg, ready, sigs)
	}
	log, err := openLog(LogPath(s, c), cfg)
	if err != nil {
		return err
	}
	defer log.Close()
	h, err := serveAttach(s, c, cfg.Interactive)
	if err != nil {
		return err
	}
	defer h.close()
	if len(args) == 4 { // StartAttached: its client sees all the output
		h.awaitClient(10 * time.Second)
	}
	// Pdeathsig ties the container to this thread, and the container
	// gets the usual timer slack, not the monitor's (startMonitor).
	runtime.LockOSThread()
	unix.Prctl(unix.PR_SET_TIMERSLACK, defaultTimerSlack, 0, 0, 0)
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, child.Forwarded()...)
	// Caught rather than ignored: an ignored signal stays ignored across
	// exec, and neither the container nor pasta should inherit that.
	signal.Notify(make(chan os.Signal, 1), unix.SIGPIPE)
	code := -1
	defer func() {
		if code >= 0 {
			h.exit(code)
		}
	}()
	for delay := 100 * time.Millisecond; ; delay = min(delay*2, 10*time.Second) {
		var stdio IO
		if cfg.ConsoleSize != nil {
			stdio.Size = *cfg.ConsoleSize
		}
		p, err := launch(s, c, cfg, nil, func(cmd *exec.Cmd) (*session, error) { return attach(cmd, stdio, cfg.Spec.Tty, log, h) })
		if ready != nil {
			if err != nil {
				recordFailure(s, c, err)
				autoRemove(s, c, cfg)
				return err
			}
			ready.Close()
			ready = nil
			// Everything from here on only waits: give memory back.
			debug.FreeOSMemory()
			textpages.Drop()
		}
		if err != nil {
			recordFailure(s, c, err)
			break
		}
		stopProbes := probeOnSchedule(s, c, cfg)
		code = p.wait(sigs)
		stopProbes()
		if err := p.finish(s, c, cfg); err != nil {
			break
		}
		st, err := s.State(c.ID)
		if err != nil || !st.RestartRequested && !cfg.Restart.again(code, st.Restarts, st.StopRequested) {
			break
		}
		time.Sleep(delay)
		if !countRestart(s, c) {
			break
		}
	}
	autoRemove(s, c, cfg)
	return nil
}

// countRestart records one more restart, unless a stop came meanwhile;
// until the next run starts the container shows as restarting.
func countRestart(s *store.Store, c *store.Container) bool {
	return editState(s, c, func(st *store.ContainerState) error {
		if st.StopRequested {
			return errStopRequested
		}
		st.Restarts++
		st.Status = store.StatusRestarting
		return nil
	}) == nil
}
