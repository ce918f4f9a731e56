package run

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	tugnet "tug/net"
	"tug/run/child"
	"tug/store"
)

// ErrNotRunning is returned when a verb needs a running container.
var ErrNotRunning = errors.New("container is not running")

// State returns a container's state, reconciled with the processes it
// names: a container whose keeper (monitor or foreground tug) is gone is
// recorded as exited with what is known, and never shown as running. A
// pid is trusted only with its start time and boot ID.
func State(s *store.Store, c *store.Container) (*store.ContainerState, error) {
	st, err := s.State(c.ID)
	if err != nil || !kept(st) || sameProcess(st.MonitorPid, st.MonitorStart, st.BootID) {
		return st, err
	}
	lock, err := s.LockContainer(c.ID)
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()
	st, err = s.State(c.ID)
	if err != nil || !kept(st) || sameProcess(st.MonitorPid, st.MonitorStart, st.BootID) {
		return st, err
	}
	// The keeper died. Its death signal took the container along; make
	// sure of it, then record the end.
	if fd, err := pidfd(st.Pid, st.PidStart, st.BootID); err == nil {
		unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
		waitExit(fd, 5*time.Second)
		unix.Close(fd)
	}
	st.Status, st.ExitCode, st.FinishedAt = store.StatusExited, 137, time.Now().UTC()
	st.Error = "the container's monitor exited unexpectedly"
	if st.BootID != bootID() {
		st.Error = "the machine rebooted"
	}
	return st, s.SetState(c.ID, st)
}

// kept tells whether a state says a keeper is looking after the
// container: it runs, or waits to be restarted.
func kept(st *store.ContainerState) bool {
	return st.Status == store.StatusRunning || st.Status == store.StatusRestarting
}

// Signal sends sig to a running container's pid 1, through a pidfd that
// cannot reach a process that reused the pid.
func Signal(s *store.Store, c *store.Container, sig unix.Signal) error {
	st, err := State(s, c)
	if err != nil {
		return err
	}
	if st.Status != store.StatusRunning {
		return fmt.Errorf("%s: %w", c.Name, ErrNotRunning)
	}
	if err := thaw(s, c, st); err != nil {
		return err
	}
	fd, err := pidfd(st.Pid, st.PidStart, st.BootID)
	if err != nil {
		return fmt.Errorf("%s: %w", c.Name, ErrNotRunning)
	}
	defer unix.Close(fd)
	send := sig
	if st.Holder != 0 && sig == unix.SIGKILL { // a keeper undoes its network first (hold.go)
		send = killSignal
	}
	if err := unix.PidfdSendSignal(fd, send, nil, 0); err != nil {
		return fmt.Errorf("signal %s: %w", c.Name, err)
	}
	emit(s, c, "kill", map[string]string{"signal": strconv.Itoa(int(sig))})
	return nil
}

// Stop asks a container to stop with its stop signal, then kills it
// after timeout (negative: its --stop-timeout, else 10 s), and returns
// once its exit is recorded. A restart policy does not start it again.
func Stop(s *store.Store, c *store.Container, timeout time.Duration) error {
	st, err := requestStop(s, c)
	if err != nil || !kept(st) {
		return err
	}
	if err := thaw(s, c, st); err != nil {
		return err
	}
	cfg, err := ContainerConfig(c)
	if err != nil {
		return err
	}
	sig, err := ParseSignal(cfg.StopSignal)
	if err != nil {
		sig = unix.SIGTERM
	}
	if timeout < 0 {
		timeout = 10 * time.Second
		if cfg.StopTimeout != nil {
			timeout = time.Duration(*cfg.StopTimeout) * time.Second
		}
	}
	if st.Holder != 0 {
		// a keeper ends on SIGTERM at once, once it has undone its
		// network: it is killed only if that hangs
		timeout = max(timeout, 10*time.Second)
	}
	if fd, err := pidfd(st.Pid, st.PidStart, st.BootID); err == nil {
		unix.PidfdSendSignal(fd, sig, nil, 0)
		emit(s, c, "kill", map[string]string{"signal": strconv.Itoa(int(sig))})
		if !waitExit(fd, timeout) {
			unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
			waitExit(fd, 10*time.Second)
		}
		unix.Close(fd)
	}
	if _, err = waitRecorded(s, c, 10*time.Second); err == nil {
		emit(s, c, "stop", nil)
	}
	return err
}

// errStopRequested stops an edit of the state: a stop came first.
var errStopRequested = errors.New("stop requested")

// editState changes a container's state under its lock: edit gets the
// state as recorded, and what it leaves there is saved unless it fails.
func editState(s *store.Store, c *store.Container, edit func(*store.ContainerState) error) error {
	lock, err := s.LockContainer(c.ID)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	st, err := s.State(c.ID)
	if err != nil {
		return err
	}
	if err := edit(st); err != nil {
		return err
	}
	return s.SetState(c.ID, st)
}

// requestStop marks a stop request, so that the monitor does not restart
// the container, and returns the state.
func requestStop(s *store.Store, c *store.Container) (*store.ContainerState, error) {
	st, err := State(s, c)
	if err != nil || !kept(st) {
		return st, err
	}
	err = editState(s, c, func(now *store.ContainerState) error {
		now.StopRequested = true
		st = now
		return nil
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}

// waitRecorded waits until the container's exit is on record (its keeper
// writes it when it has reaped the container).
func waitRecorded(s *store.Store, c *store.Container, timeout time.Duration) (*store.ContainerState, error) {
	deadline := time.Now().Add(timeout)
	for delay := time.Millisecond; ; delay = min(delay*2, 50*time.Millisecond) {
		st, err := State(s, c)
		if err != nil || !kept(st) {
			return st, err
		}
		if timeout >= 0 && time.Now().After(deadline) {
			return st, fmt.Errorf("%s: its exit was not recorded within %s", c.Name, timeout)
		}
		time.Sleep(delay)
	}
}

// Wait blocks until a container is not running, and will not be
// restarted by its monitor, and returns its exit code.
func Wait(s *store.Store, c *store.Container) (int, error) {
	for {
		st, err := State(s, c)
		if err != nil {
			return 0, err
		}
		switch {
		case st.Status == store.StatusRunning:
			if fd, err := pidfd(st.Pid, st.PidStart, st.BootID); err == nil {
				waitExit(fd, -1)
				unix.Close(fd)
			}
			if _, err := waitRecorded(s, c, 10*time.Second); err != nil {
				return 0, err
			}
		case st.Status == store.StatusRestarting || restarting(c, st):
			time.Sleep(20 * time.Millisecond)
		default:
			return st.ExitCode, nil
		}
	}
}

// waitConditions are wait --condition's states, podman's (stopped is
// also exited, and docker's not-running).
var waitConditions = map[string]func(*store.ContainerState) bool{
	"running": func(st *store.ContainerState) bool { return st.Status == store.StatusRunning && !st.Paused },
	"paused":  func(st *store.ContainerState) bool { return st.Paused },
	"created": func(st *store.ContainerState) bool { return st.Status == store.StatusCreated },
	"healthy": func(st *store.ContainerState) bool {
		return st.Health != nil && st.Health.Status == store.HealthHealthy
	},
	"unhealthy": func(st *store.ContainerState) bool {
		return st.Health != nil && st.Health.Status == store.HealthUnhealthy
	},
}

// CheckWaitConditions refuses a --condition wait does not know.
func CheckWaitConditions(conds []string) error {
	for _, c := range conds {
		if _, ok := waitConditions[c]; !ok && c != "stopped" && c != "exited" && c != "not-running" {
			return fmt.Errorf("--condition %q: want running, paused, created, healthy, unhealthy, stopped or exited", c)
		}
	}
	return nil
}

// WaitFor blocks until the container is in one of the states conds
// names, and returns its exit code for a stop, -1 for the others, as
// podman does. No conditions, or a stopped one among them, is Wait.
func WaitFor(s *store.Store, c *store.Container, conds []string) (int, error) {
	var states []func(*store.ContainerState) bool
	stop := false
	for _, cond := range conds {
		if met := waitConditions[cond]; met != nil {
			states = append(states, met)
		} else {
			stop = true
		}
	}
	if len(states) == 0 {
		return Wait(s, c)
	}
	for {
		st, err := State(s, c)
		if err != nil {
			return 0, err
		}
		if slices.ContainsFunc(states, func(met func(*store.ContainerState) bool) bool { return met(st) }) {
			return -1, nil
		}
		if stop && st.Status == store.StatusExited && !restarting(c, st) {
			return st.ExitCode, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Restart stops the container (as Stop, with timeout) and starts it
// again detached.
func Restart(s *store.Store, c *store.Container, timeout time.Duration) error {
	if err := Stop(s, c, timeout); err != nil {
		return err
	}
	if err := StartDetached(s, c); err != nil {
		return err
	}
	emit(s, c, "restart", nil)
	return nil
}

// restarting tells whether the monitor will start the container again.
func restarting(c *store.Container, st *store.ContainerState) bool {
	cfg, err := ContainerConfig(c)
	return err == nil && cfg.Restart.again(st.ExitCode, st.Restarts, st.StopRequested) &&
		sameProcess(st.MonitorPid, st.MonitorStart, st.BootID)
}

// ErrConflict marks a request the object's state refuses, such as rm
// of a running container without -f.
var ErrConflict = errors.New("conflict")

// conflictError is an ErrConflict with its own message.
type conflictError struct{ msg string }

func (e conflictError) Error() string        { return e.msg }
func (e conflictError) Is(target error) bool { return target == ErrConflict }

func conflict(format string, args ...any) error {
	return conflictError{fmt.Sprintf(format, args...)}
}

// RemoveOptions are tug rm's flags.
type RemoveOptions struct {
	Force   bool          // stop a running container first (after Timeout)
	Timeout time.Duration // how long a stop waits before SIGKILL
	Depend  bool          // first remove the containers that share its network
	Volumes bool          // its anonymous volumes too (rm -v)
	Infra   bool          // a pod's infra container too (pod rm, once its members are gone)
}

// RemoveRef removes the container named ref, as tug rm does. With force,
// a container whose record cannot be read is removed too: whatever runs
// in its cgroup is killed, and its files go.
func RemoveRef(s *store.Store, ref string, opt RemoveOptions) error {
	c, err := s.LookupContainer(ref)
	var bad *store.BadRecord
	if errors.As(err, &bad) && opt.Force {
		if d, err := driverOf(s, nil); err == nil {
			if err := d.removeAny(bad.ID); err != nil {
				return err
			}
		}
		return s.RemoveContainer(bad.ID)
	}
	if err != nil {
		return err
	}
	if opt.Depend {
		if err := removeDependents(s, c, opt); err != nil {
			return err
		}
	}
	return remove(s, c, opt)
}

// removeDependents removes, depth first, the containers that share c's
// network namespace (--network container:C), which cannot outlive it.
func removeDependents(s *store.Store, c *store.Container, opt RemoveOptions) error {
	all, err := s.Containers()
	if err != nil {
		return err
	}
	for _, d := range all {
		if d.ID != c.ID && SharedNetwork(d) == c.ID {
			if err := removeDependents(s, d, opt); err != nil {
				return err
			}
			if err := remove(s, d, opt); err != nil {
				return err
			}
		}
	}
	return nil
}

// Prune removes every container that is not running and returns their
// IDs, with the records it could not read; it goes on past a failure.
func Prune(s *store.Store) ([]string, []*store.BadRecord, error) {
	all, bad, err := s.ScanContainers()
	if err != nil {
		return nil, nil, err
	}
	var removed []string
	var errs []error
	for _, ctr := range all {
		st, err := State(s, ctr)
		if err != nil || st.Status == store.StatusRunning || IsInfra(s, ctr) {
			continue
		}
		if err := Remove(s, ctr, false); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, ctr.ID)
	}
	return removed, bad, errors.Join(errs...)
}

// Remove deletes a container. A running one is refused unless force,
// which kills it first.
func Remove(s *store.Store, c *store.Container, force bool) error {
	return remove(s, c, RemoveOptions{Force: force})
}

func remove(s *store.Store, c *store.Container, opt RemoveOptions) error {
	if !opt.Infra && IsInfra(s, c) {
		return conflict("container %s is the infra container of its pod: tug pod rm removes it with the pod", c.Name)
	}
	st, err := State(s, c)
	if err != nil {
		return err
	}
	if kept(st) {
		if !opt.Force {
			return conflict("cannot remove running container %s: stop it first, or use rm -f", c.Name)
		}
		if err := Stop(s, c, opt.Timeout); err != nil {
			return err
		}
	}
	if err := removeStopped(s, c); err != nil {
		return err
	}
	emit(s, c, "destroy", nil)
	if opt.Volumes {
		// after the container's lock: the volumes lock orders first
		return removeAnonymous(s, c)
	}
	return nil
}

// removeStopped removes a container that does not run, under its lock.
func removeStopped(s *store.Store, c *store.Container) error {
	lock, err := s.LockContainer(c.ID)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	// A keeper that died left its cgroup, network and /dev/shm behind.
	cfg, err := ContainerConfig(c)
	if err == nil {
		detachNetwork(s, c, cfg)
	}
	releaseShm(s, c.ID)
	if d, err := driverOf(s, cfg); err == nil {
		if err := d.remove(c.ID, true); err != nil {
			return err
		}
	}
	if err := s.RemoveContainer(c.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}

// removeAnonymous removes the anonymous volumes of a removed container;
// named ones stay, as with docker's rm -v.
func removeAnonymous(s *store.Store, c *store.Container) error {
	var errs []error
	for _, name := range c.Volumes {
		if v, err := s.LookupVolume(name); err == nil && v.Anonymous {
			if err := s.RemoveVolume(name); err != nil && !errors.Is(err, store.ErrNotFound) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// UserNSHolder returns the host pid of a process in the user namespace
// that owns a running container's other namespaces, checked to be that
// very process: the container's first process, or with --userns keep-id
// (a user namespace of the container's own, nested in that one) its
// keeper. A rootless tug joins it to reach the container.
func UserNSHolder(s *store.Store, c *store.Container) (int, bool) {
	st, err := State(s, c)
	if err != nil || st.Status != store.StatusRunning || !sameProcess(st.Pid, st.PidStart, st.BootID) {
		return 0, false
	}
	if cfg, err := ContainerConfig(c); err == nil && cfg.Spec.KeepID != nil {
		return st.MonitorPid, sameProcess(st.MonitorPid, st.MonitorStart, st.BootID)
	}
	return st.Pid, true
}

// ParseSignal reads a signal as docker takes it: KILL, SIGKILL or 9.
func ParseSignal(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n < 65 {
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("invalid signal %q", s)
}

// MonitorRole is the argv[0] that makes tug's main run Monitor.
const MonitorRole = "tug-monitor"

// awaitAttach, a monitor's last argument, has it launch the container
// only once a client is attached (StartAttached).
const awaitAttach = "await-attach"

// StartDetached starts a container under a monitor of its own and
// returns once the entrypoint runs (or failed to).
func StartDetached(s *store.Store, c *store.Container) error {
	ready, err := spawnMonitor(s, c, false)
	if err != nil {
		return err
	}
	return ready()
}

// StartAttached starts a container under a monitor of its own, as
// StartDetached does, with tug attached from before the entrypoint runs
// (none of its output is missed), until it exits (its exit code is
// returned) or the user types the detach keys (0; it runs on): docker's
// run -it and start -ai.
func StartAttached(s *store.Store, c *store.Container, stdio IO, detachKeys []byte) (int, error) {
	return startWith(s, c, func(cfg *Config, conn net.Conn, ready func() error) (int, error) {
		return attachSession(s, c, cfg, conn, stdio, detachKeys, ready)
	})
}

// StartStreams starts a container as StartAttached does, with st
// attached, for the API's attach before start; started gets the start's
// outcome as soon as it is known, and before the exit code comes back.
func StartStreams(s *store.Store, c *store.Container, st Streams, started func(error)) (int, error) {
	var once sync.Once
	report := func(err error) { once.Do(func() { started(err) }) }
	code, err := startWith(s, c, func(cfg *Config, conn net.Conn, ready func() error) (int, error) {
		return pump(s, c, cfg, conn, st, false, nil, func() error {
			err := ready()
			report(err)
			return err
		})
	})
	report(err) // a start that failed before the monitor answered
	return code, err
}

// startWith starts a container under a monitor that waits for a client,
// and runs session as that client.
func startWith(s *store.Store, c *store.Container, session func(cfg *Config, conn net.Conn, ready func() error) (int, error)) (int, error) {
	cfg, err := ContainerConfig(c)
	if err != nil {
		return 0, err
	}
	if err := cfg.attachable(c); err != nil {
		return 0, err
	}
	ready, err := spawnMonitor(s, c, true)
	if err != nil {
		return 0, err
	}
	conn, err := dialMonitor(attachSocket(s, c), 5*time.Second)
	if err != nil {
		if rerr := ready(); rerr != nil {
			return 0, rerr
		}
		return 0, fmt.Errorf("attach %s: %w", c.Name, err)
	}
	defer conn.Close()
	return session(cfg, conn, ready)
}

// dialMonitor connects to a monitor's attach socket once it listens.
func dialMonitor(path string, limit time.Duration) (net.Conn, error) {
	for deadline := time.Now().Add(limit); ; time.Sleep(time.Millisecond) {
		conn, err := net.Dial("unix", path)
		if err == nil || time.Now().After(deadline) {
			return conn, err
		}
	}
}

// spawnMonitor starts a container's monitor; ready waits until the
// entrypoint runs (or failed to). With await the monitor waits for a
// client to attach before it launches the container.
func spawnMonitor(s *store.Store, c *store.Container, await bool) (ready func() error, err error) {
	if err := claimStart(s, c); err != nil {
		return nil, err
	}
	if cfg, err := ContainerConfig(c); err == nil && (cfg.LogDriver == LogPassthrough || cfg.PreserveFDs > 0) {
		return nil, fmt.Errorf("start %s: --log-driver passthrough and --preserve-fds hand it tug's own fds, so it runs in the foreground only (tug start -a)", c.Name)
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	args := []string{MonitorRole, s.Root(), s.RunRoot(), c.ID}
	if await {
		args = append(args, awaitAttach)
	}
	cmd := &exec.Cmd{
		Path:       "/proc/self/exe",
		Args:       args,
		Env:        []string{"GOMAXPROCS=1", "GOGC=50"},
		ExtraFiles: []*os.File{readyW},
		// its own session: the monitor outlives this CLI, the terminal
		// and the user's logout
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	if err := startMonitor(cmd); err != nil {
		readyW.Close()
		readyR.Close()
		return nil, fmt.Errorf("start monitor: %w", err)
	}
	readyW.Close()
	return func() error {
		defer readyR.Close()
		defer cmd.Process.Release()
		return child.ReadStatus(readyR)
	}, nil
}

// monitorTimerSlack is how late the monitor's timers may fire. The
// runtime's sysmon, once anything runs, sleeps 20 µs at a time for a
// while, and in a monitor that probes a healthcheck each second those
// wakeups cost more than the probe; a monitor has nothing that needs
// its timers to the microsecond.
const monitorTimerSlack = 2 * time.Millisecond

// startMonitor starts the monitor with monitorTimerSlack: a thread's
// slack is inherited by the threads and processes it makes, and kept
// across exec, so the monitor's sysmon, which its runtime makes before
// any of its own code runs, has it too. The monitor gives the container
// the usual slack back (monitor).
func startMonitor(cmd *exec.Cmd) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(monitorTimerSlack), 0, 0, 0)
	defer unix.Prctl(unix.PR_SET_TIMERSLACK, 0, 0, 0, 0) // this thread's default again
	return cmd.Start()
}

// Update changes a container's limits: those set in l replace the old
// ones, in its record and, if it runs, in its cgroup. A rootless
// container whose limits would do nothing keeps its old ones.
func Update(s *store.Store, c *store.Container, l Limits) error {
	return editConfig(s, c, func(cfg *Config) error {
		changes, err := resources(l)
		if err != nil {
			return err
		}
		if why := unenforced(s, cfg.CgroupManager, changes); why != "" {
			return errors.New(why)
		}
		cfg.Resources = cfg.Resources.Merge(changes)
		if cfg.Resources.MemorySwap > 0 && cfg.Resources.MemorySwap < cfg.Resources.Memory {
			return fmt.Errorf("--memory-swap must be at least --memory")
		}
		st, err := s.State(c.ID)
		if err != nil || st.Status != store.StatusRunning {
			return err
		}
		d, err := driverOf(s, cfg)
		if err != nil {
			return err
		}
		return d.set(c.ID, cfg.Resources, changes)
	})
}

// Ports lists a running container's published ports as docker's port
// verb prints them: 80/tcp -> 0.0.0.0:8080.
func Ports(s *store.Store, c *store.Container) ([]string, error) {
	ns, err := tugnet.Saved(s, c.ID)
	if err != nil || ns == nil {
		return nil, err
	}
	var out []string
	for k, bs := range ns.Ports {
		for _, b := range bs {
			out = append(out, fmt.Sprintf("%s -> %s:%s", k, b.HostIP, b.HostPort))
		}
	}
	sort.Strings(out)
	return out, nil
}

// Each runs fn on every container at once, and joins their errors.
func Each(ctrs []*store.Container, fn func(*store.Container) error) error {
	errs := make([]error, len(ctrs))
	var wg sync.WaitGroup
	for i, c := range ctrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn(c)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
