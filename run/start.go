package run

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"tug/internal/phase"
	tugnet "tug/net"
	"tug/run/cgroups"
	"tug/run/cgroups/systemd"
	"tug/run/child"
	"tug/store"
)

// IO is what a container's stdio connects to. Stdin nil means no -i: the
// container's stdin reads nothing.
type IO struct {
	Stdin          *os.File
	Stdout, Stderr *os.File
	// Inherited is how many fds from 3 on tug's caller left open: those
	// --preserve-fds may hand on.
	Inherited int
	// NoSigProxy keeps the signals tug gets from the container
	// (--sig-proxy=false): they are caught and dropped.
	NoSigProxy bool
	// Resize brings window sizes (rows, cols) for the container's
	// terminal from a client that is not a terminal here (the API's).
	Resize <-chan [2]uint16
	// Size is the terminal's size (rows, cols) at the start, where there
	// is no terminal of the user's to take it from; zero: the pty's.
	Size [2]uint16
}

// ErrRunning is returned when starting a container that runs already.
var ErrRunning = errors.New("container is running")

// LogPath is where a container's log lives.
func LogPath(s *store.Store, c *store.Container) string {
	return filepath.Join(s.ContainerDir(c.ID), "ctr.log")
}

// Start runs container c in the foreground, attached to stdio (and
// logged), and returns its entrypoint's exit code (128+N when killed by
// signal N). An error means the container could not start; it carries
// the exit code tug should end with (125, 126 or 127) when it has an
// ExitCode method.
func Start(s *store.Store, c *store.Container, stdio IO) (int, error) {
	cfg, err := ContainerConfig(c)
	if err != nil {
		return 0, err
	}
	if err := cfg.attachable(c); err != nil {
		return 0, err
	}
	if err := claimStart(s, c); err != nil {
		return 0, err
	}
	log, err := openLog(LogPath(s, c), cfg)
	if err != nil {
		return 0, err
	}
	defer log.Close()
	if !cfg.Interactive {
		stdio.Stdin = nil
	}
	// Pdeathsig fires when the thread that forked exits: keep it.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, child.Forwarded()...)
	defer signal.Stop(sigs)
	// A closed reader of tug's output (run --rm … | head) must not kill
	// tug before it removes the container: caught, SIGPIPE turns into
	// EPIPE, the copy stops and the container gets the broken pipe in
	// turn. Caught, not ignored: an ignored signal stays so across exec.
	pipe := make(chan os.Signal, 1)
	signal.Notify(pipe, unix.SIGPIPE)
	defer signal.Stop(pipe)
	wire := func(cmd *exec.Cmd) (*session, error) { return attach(cmd, stdio, cfg.Spec.Tty, log, nil) }
	if cfg.LogDriver == LogPassthrough {
		wire = func(cmd *exec.Cmd) (*session, error) { return passThrough(cmd, stdio), nil }
	}
	extra, err := preservedFDs(cfg.PreserveFDs, stdio.Inherited)
	if err != nil {
		return 0, err
	}
	p, err := launch(s, c, cfg, extra, wire)
	if err != nil {
		recordFailure(s, c, err)
		autoRemove(s, c, cfg)
		return 0, err
	}
	if stdio.NoSigProxy {
		sigs = make(chan os.Signal) // what Notify catches goes nowhere
	}
	stopProbes := probeOnSchedule(s, c, cfg)
	code := p.wait(sigs)
	stopProbes()
	err = p.finish(s, c, cfg)
	autoRemove(s, c, cfg)
	return code, err
}

// claimStart refuses to start a container that runs already.
func claimStart(s *store.Store, c *store.Container) error {
	st, err := State(s, c)
	if err != nil {
		return err
	}
	if st.Status == store.StatusRunning {
		return fmt.Errorf("start %s: %w", c.Name, ErrRunning)
	}
	return nil
}

func autoRemove(s *store.Store, c *store.Container, cfg *Config) {
	if cfg.AutoRemove {
		err := s.RemoveContainer(c.ID)
		if err == nil {
			emit(s, c, "destroy", nil)
			err = removeAnonymous(s, c) // --rm takes the anonymous volumes along, as docker's does
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			fmt.Fprintf(os.Stderr, "tug: remove %s: %s\n", c.Name, err)
		}
	}
}

// process is a container whose entrypoint runs.
type process struct {
	cmd     *exec.Cmd
	term    *session
	timeout time.Duration  // --timeout: how long it may run; 0 for ever
	group   *cgroups.Group // nil when tug cannot make cgroups (rootless)
	drv     driver         // the manager of group
	oomSeen func() bool    // systemd: the watch on the scope's memory.events
	id      string         // the container's
	undo    []func()       // what the keeper ends with it: embedded DNS, user-mode stack, FUSE rootfs
	holder  *holder        // a held container's (hold.go): cmd is nil then
	phases  *phase.Recorder
	state   store.ContainerState
}

// preservedFDs are the fds 3… that --preserve-fds N hands the
// container: of those tug inherited, never one of tug's own.
func preservedFDs(n, inherited int) ([]*os.File, error) {
	if n > inherited {
		return nil, fmt.Errorf("--preserve-fds %d: fd %d is not open (tug was given %d past stdio)", n, 3+inherited, inherited)
	}
	out := make([]*os.File, n)
	for i := range out {
		out[i] = os.NewFile(uintptr(3+i), fmt.Sprintf("preserved-%d", 3+i))
	}
	return out, nil
}

// launch starts the re-exec child with stdio wired by wire and the fds
// of --preserve-fds (extra) as its 3…, hands it the spec, and returns
// once the entrypoint runs, with the running state recorded. The calling
// goroutine must be locked to its thread until the process is waited for
// (Pdeathsig). It runs as named steps; each pushes what undoes it, and a
// failed step unwinds them all, last first.
func launch(s *store.Store, c *store.Container, cfg *Config, extra []*os.File, wire func(*exec.Cmd) (*session, error)) (*process, error) {
	if err := cfg.withSeccomp(s); err != nil {
		return nil, err
	}
	l := &launcher{s: s, c: c, cfg: cfg, spec: cfg.Spec, extra: extra, phases: phase.Open("tug")}
	defer l.closeAll()
	steps := []struct {
		name string
		do   func() error
	}{
		{"pod-infra", l.podInfra},             // a pod's member: its infra container runs
		{"shared-network", l.sharedNetwork},   // --network container:C: a pidfd of C
		{"files", l.files},                    // overlay paths, /etc/hosts and co.
		{"command", l.command},                // tug through its read-only mount, the pipes
		{"shared-ipc", l.sharedIPC},           // --ipc shareable: its /dev/shm; container:C: a pidfd of C
		{"join-namespaces", l.joinNamespaces}, // --uts, --pid container:C: pidfds of C
		{"cgroup", l.cgroup},                  // made, with its limits, before the clone
		{"volumes", l.volumes},                // filesystems of volumes, which the clone copies
		{"wire", func() error { return l.wire(wire) }},
		{"rootfs", l.rootfs}, // before the clone, which copies the keeper's mounts (a FUSE rootfs)
		{"clone", l.start},
		{"scope", l.scope},         // systemd: the scope, with the child (waiting) in it
		{"handshake", l.handshake}, // spec, network, console; then the child execs
		{"record", l.record},
	}
	for _, step := range steps {
		if err := step.do(); err != nil {
			l.unwind()
			l.phases.Close()
			return nil, err
		}
		l.phases.Mark(step.name)
	}
	l.p.phases = l.phases
	return l.p, nil
}

// childEnv is the re-exec child's environment: one P, which spares it
// the start of idle threads (about 0.3 ms a start here), how many fds
// --preserve-fds hands it, and make bench's phases file.
func childEnv(preserved int) []string {
	env := []string{"GOMAXPROCS=1", fmt.Sprintf("%s=%d", child.PreserveEnv, preserved)}
	if e := phase.EnvFor(); e != "" {
		env = append(env, e)
	}
	return env
}

// launcher is one launch in progress.
type launcher struct {
	s                          *store.Store
	c                          *store.Container
	cfg                        *Config
	spec                       Spec
	extra                      []*os.File
	netns                      *os.File // --network container:C
	pidns                      *os.File // --pid container:C: a pidfd of C
	cmd                        *exec.Cmd
	p                          *process
	specR, specW, syncR, syncW *os.File
	manager                    func() (*systemd.Conn, error) // systemd: the connection, dialled ahead
	phases                     *phase.Recorder               // make bench's marks, nil without TUG_PHASES
	closers                    []func()                      // when launch returns, whatever happened
	undo                       []func()                      // when a step fails, last first
}

// closeAll closes what only the launch needed.
func (l *launcher) closeAll() {
	for _, f := range l.closers {
		f()
	}
}

// unwind undoes the steps done, last first.
func (l *launcher) unwind() {
	for i := len(l.undo) - 1; i >= 0; i-- {
		l.undo[i]()
	}
}

// keep adds what the keeper ends with the container (at its exit, or now
// if the launch fails).
func (l *launcher) keep(stop func()) {
	l.p.undo = append(l.p.undo, stop)
	l.undo = append(l.undo, stop)
}

func (l *launcher) sharedNetwork() error {
	netns, err := networkOwner(l.s, l.cfg)
	if err != nil {
		return err
	}
	l.netns = netns
	l.closers = append(l.closers, func() { netns.Close() })
	return nil
}

func (l *launcher) files() error {
	// whatever a failed start attached, from here on (detach is safe to
	// run when nothing is)
	l.undo = append(l.undo, func() { detachNetwork(l.s, l.c, l.cfg) })
	return prepare(l.s, l.c, l.cfg, &l.spec)
}

func (l *launcher) command() error {
	exe, err := protectedSelf()
	if err != nil {
		return err
	}
	l.closers = append(l.closers, func() { exe.Close() })
	if l.specR, l.specW, err = os.Pipe(); err != nil {
		return err
	}
	if l.syncR, l.syncW, err = os.Pipe(); err != nil {
		return err
	}
	for _, f := range []*os.File{l.specR, l.specW, l.syncR, l.syncW} {
		l.closers = append(l.closers, func() { f.Close() })
	}
	l.cmd = &exec.Cmd{
		Path:       fmt.Sprintf("/proc/self/fd/%d", exe.Fd()),
		Args:       []string{child.InitRole},
		Env:        childEnv(len(l.extra)),
		ExtraFiles: append(append([]*os.File{}, l.extra...), l.specR, l.syncW), // see run/child/sync.go
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS |
				unix.CLONE_NEWIPC | unix.CLONE_NEWNET | unix.CLONE_NEWCGROUP,
			// The container dies with whoever started it: a foreground
			// tug or the monitor. No container outlives its keeper.
			Pdeathsig: unix.SIGKILL,
		},
		WaitDelay: time.Second,
	}
	l.p = &process{cmd: l.cmd, timeout: time.Duration(l.cfg.Timeout) * time.Second}
	if l.cfg.Network == "host" || l.netns != nil {
		l.cmd.SysProcAttr.Cloneflags &^= unix.CLONE_NEWNET
	}
	if l.spec.HostUTS {
		l.cmd.SysProcAttr.Cloneflags &^= unix.CLONE_NEWUTS
	}
	if l.spec.HostIPC {
		l.cmd.SysProcAttr.Cloneflags &^= unix.CLONE_NEWIPC
	}
	if l.spec.HostPID {
		l.cmd.SysProcAttr.Cloneflags &^= unix.CLONE_NEWPID
	}
	if k := l.spec.KeepID; k != nil {
		// the user namespace first, so that it owns the others; tug,
		// root of its parent, writes its maps (keepid.go)
		attr := l.cmd.SysProcAttr
		attr.Cloneflags |= unix.CLONE_NEWUSER
		attr.UidMappings, attr.GidMappings = keepIDMap(k.UID, k.UIDCount), keepIDMap(k.GID, k.GIDCount)
		attr.GidMappingsEnableSetgroups = true
		// tug's 0 is the user's ID in there: become the namespace's root
		// before execve(2), or the child would lose every capability
		attr.Credential = &syscall.Credential{Uid: 0, Gid: 0}
	}
	if l.netns != nil {
		l.cmd.ExtraFiles = append(l.cmd.ExtraFiles, l.netns) // the spec's fd + 2, see run/child/sync.go
		l.spec.JoinNetNS = true
	}
	return nil
}

func (l *launcher) cgroup() error {
	d, err := driverOf(l.s, l.cfg)
	if err != nil {
		return err
	}
	l.p.drv, l.p.id = d, l.c.ID
	if d.systemd {
		l.manager = d.dialAhead()
		l.closers = append(l.closers, func() {
			if conn, err := l.manager(); err == nil {
				conn.Close()
			}
		})
		// the child makes its cgroup namespace once systemd has moved
		// it into its scope (l.scope), before it reads its spec
		l.spec.UnshareCgroup = true
		l.cmd.SysProcAttr.Cloneflags &^= unix.CLONE_NEWCGROUP
		l.spec.CgroupMounts = []cgroups.Mount{{FSType: "cgroup2"}}
		return nil
	}
	group, cleanup, err := placeInCgroup(d, l.c, l.cfg, l.cmd, &l.spec)
	if err != nil {
		return err
	}
	l.closers = append(l.closers, cleanup)
	l.p.group = group
	l.undo = append(l.undo, l.p.removeGroup)
	return nil
}

// scope starts the container's systemd scope with its init in it, which
// waits for its spec meanwhile: systemd will not start an empty scope.
func (l *launcher) scope() error {
	if !l.p.drv.systemd {
		return nil
	}
	l.undo = append(l.undo, l.p.removeGroup)
	conn, err := l.manager()
	if err != nil {
		return err
	}
	g, err := l.p.drv.startScope(conn, l.c.ID, l.cmd.Process.Pid, l.cfg.Resources)
	l.p.group = g
	if err != nil {
		return err
	}
	// systemd removes the scope's cgroup as soon as it is empty
	seen, err := g.WatchOOM()
	if err != nil {
		return err
	}
	l.p.oomSeen = seen
	l.undo = append(l.undo, func() { seen() })
	return nil
}

func (l *launcher) wire(wire func(*exec.Cmd) (*session, error)) error {
	term, err := wire(l.cmd)
	if err != nil {
		return err
	}
	l.p.term = term
	l.undo = append(l.undo, term.close)
	return nil
}

func (l *launcher) rootfs() error {
	if err := prepareRootfs(l.s, &l.spec); err != nil {
		return err
	}
	l.keep(func() { releaseRootfs(&l.spec) })
	return nil
}

func (l *launcher) start() error {
	l.spec.Release = bridged(l.cfg) || tugnet.IsUserMode(l.cfg.Network)
	l.spec.ConsoleFD = l.p.term.consoleFD(l.cmd)
	start := l.cmd.Start
	if l.pidns != nil {
		start = func() error { return startIn(l.pidns, l.cmd) }
	}
	if err := start(); err != nil {
		return fmt.Errorf("start container: %w", err)
	}
	l.undo = append(l.undo, func() {
		l.cmd.Process.Kill()
		l.cmd.Wait()
	})
	l.specR.Close()
	l.syncW.Close()
	l.p.term.started()
	return nil
}

// handshake hands the child its spec; while it builds its rootfs, its
// network is plumbed (it waits for that before it runs anything of the
// container), then it sends its console, and execs.
func (l *launcher) handshake() error {
	var enter func() error
	if l.spec.Release {
		enter = func() error { return l.plumb(l.cmd.Process.Pid) }
	}
	return handshake(l.specW, l.syncR, &l.spec, enter, l.p.term.takeConsole)
}

// plumb plumbs the network of pid's network namespace: a user-mode
// stack, or the veth and, on a user network, the embedded DNS.
func (l *launcher) plumb(pid int) error {
	if tugnet.IsUserMode(l.cfg.Network) {
		u, err := startUserMode(l.s, l.c, l.cfg, &l.spec, pid)
		if u != nil {
			l.keep(u.Stop)
		}
		return err
	}
	if err := attachNetwork(l.s, l.c, l.cfg, &l.spec, pid); err != nil {
		return err
	}
	if !l.spec.EmbeddedDNS {
		return nil
	}
	stop, err := tugnet.ServeDNS(pid, resolver(l.s, l.c.ID), hostResolv("/etc/resolv.conf").servers)
	if stop != nil {
		l.keep(stop)
	}
	return err
}

func (l *launcher) record() error {
	if err := l.p.recordRunning(l.s, l.c, l.cfg.Health != nil); err != nil {
		return err
	}
	emit(l.s, l.c, "start", nil)
	for _, v := range l.c.Volumes {
		l.s.Emit("volume", "mount", v, map[string]string{"container": l.c.ID, "driver": "local"})
	}
	return nil
}

// placeInCgroup makes the container's cgroup with its limits under
// cgroupfs. On a v2 host the child is cloned straight into it
// (CLONE_INTO_CGROUP), so it never runs an instruction outside its
// limits; on v1 the child moves itself in first thing. Rootless
// containers get none: that takes systemd's delegation.
func placeInCgroup(d driver, c *store.Container, cfg *Config, cmd *exec.Cmd, spec *Spec) (*cgroups.Group, func(), error) {
	noop := func() {}
	g := d.group(c.ID, &cfg.Resources)
	if g == nil { // create warned about any limits
		if d.layout.Version == "v2" { // the user's own cgroup, in its namespace
			spec.CgroupMounts = []cgroups.Mount{{FSType: "cgroup2"}}
		}
		return nil, noop, nil
	}
	if err := g.Create(cfg.Resources); err != nil {
		g.Remove()
		return nil, noop, err
	}
	spec.CgroupMounts = g.Mounts()
	fd, err := g.DirFD()
	if err != nil {
		g.Remove()
		return nil, noop, err
	}
	if fd < 0 {
		spec.UnshareCgroup, spec.CgroupTasks = true, g.TaskFiles()
		cmd.SysProcAttr.Cloneflags &^= unix.CLONE_NEWCGROUP
		return g, noop, nil
	}
	cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, fd
	return g, func() { unix.Close(fd) }, nil
}

// oomKilled tells whether the kernel's OOM killer killed a process of
// the container.
func (p *process) oomKilled() bool {
	if p.oomSeen != nil {
		return p.oomSeen()
	}
	return p.group != nil && p.group.OOMKilled()
}

// removeGroup removes the container's cgroup, if it has one: under
// systemd, its scope.
func (p *process) removeGroup() {
	var err error
	switch {
	case p.drv.systemd && p.group != nil && p.group.Empty():
		// systemd stops and removes the empty scope itself; a new one
		// of its name stops what is left of it (StartScope)
	case p.drv.systemd:
		err = p.drv.remove(p.id, false)
	case p.group != nil:
		err = p.group.Remove()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "tug: %s\n", err)
	}
}

// recordRunning writes the running state, with both pids and their start
// times, under the container's lock. A held container's pid is the
// monitor's own.
func (p *process) recordRunning(s *store.Store, c *store.Container, healthcheck bool) error {
	self := os.Getpid()
	pid, holder := self, 0
	if p.holder != nil {
		holder = p.holder.tid
	} else {
		pid = p.cmd.Process.Pid
	}
	pidStart, err := procStart(pid)
	if err != nil {
		return fmt.Errorf("container process: %w", err)
	}
	selfStart, err := procStart(self)
	if err != nil {
		return err
	}
	return editState(s, c, func(st *store.ContainerState) error {
		if st.Status == store.StatusRestarting && st.StopRequested {
			return fmt.Errorf("%s was stopped while it waited to restart", c.Name)
		}
		p.state = store.ContainerState{
			Status: store.StatusRunning, Pid: pid, PidStart: pidStart, MonitorPid: self, MonitorStart: selfStart, Holder: holder,
			BootID: bootID(), StartedAt: time.Now().UTC(), Restarts: st.Restarts,
		}
		if healthcheck {
			if err := s.ResetHealth(c.ID); err != nil {
				return err
			}
		}
		*st = p.state
		return nil
	})
}

// handshake sends the spec, runs enter (if any) and tells the child it
// is done, takes the child's console, then waits for the child to exec:
// EOF on the sync pipe means the entrypoint runs; a message means it
// failed.
func handshake(specW, syncR *os.File, spec *Spec, enter, console func() error) error {
	if err := json.NewEncoder(specW).Encode(spec); err != nil {
		return fmt.Errorf("send container spec: %w", err)
	}
	if enter != nil {
		if err := enter(); err != nil {
			return err
		}
		if _, err := specW.Write([]byte{1}); err != nil {
			return childFailed(syncR, fmt.Errorf("release container: %w", err))
		}
	}
	if err := console(); err != nil {
		return childFailed(syncR, err)
	}
	specW.Close()
	return child.ReadStatus(syncR)
}

// childFailed is the child's own report of why it is gone, if it made
// one, else err.
func childFailed(syncR *os.File, err error) error {
	if serr := child.ReadStatus(syncR); serr != nil {
		return serr
	}
	return err
}

// wait forwards signals (from sigs, if not nil) to the container until
// it exits, lets its last output drain, and returns its exit code.
func (p *process) wait(sigs chan os.Signal) int {
	if p.timeout > 0 {
		// --timeout: past it, the container is killed (exit 137)
		t := time.AfterFunc(p.timeout, func() { p.cmd.Process.Kill() })
		defer t.Stop()
	}
	done := make(chan struct{})
	if sigs != nil {
		go func() {
			for {
				select {
				case s := <-sigs:
					p.cmd.Process.Signal(s)
				case <-done:
					return
				}
			}
		}()
	}
	p.cmd.Wait()
	p.phases.Mark("exited")
	close(done)
	p.term.drain()
	ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok {
		return 125
	}
	p.state.ExitCode = child.ExitStatus(unix.WaitStatus(ws))
	return p.state.ExitCode
}

// finish records the exit, unless the container is gone already (rm -f).
func (p *process) finish(s *store.Store, c *store.Container, cfg *Config) error {
	if p.term != nil { // a held container has no stdio
		p.term.close()
	}
	for _, undo := range p.undo {
		undo()
	}
	detachNetwork(s, c, cfg)
	oom := p.oomKilled()
	p.removeGroup()
	lock, err := s.LockContainer(c.ID)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	old, err := s.State(c.ID)
	if err != nil {
		return nil // removed meanwhile
	}
	defer p.phases.Close()
	defer p.phases.Mark("finished")
	st := p.state
	st.Status, st.FinishedAt, st.StopRequested = store.StatusExited, time.Now().UTC(), old.StopRequested
	st.OOMKilled, st.RestartRequested = oom, old.RestartRequested
	// before the state: whoever waits for the exit to be recorded
	// (stop) writes its own event after this one, as docker orders them
	if oom {
		emit(s, c, "oom", nil)
	}
	emit(s, c, "die", map[string]string{"exitCode": strconv.Itoa(st.ExitCode)})
	for _, v := range c.Volumes {
		s.Emit("volume", "unmount", v, map[string]string{"container": c.ID, "driver": "local"})
	}
	if err := s.SetState(c.ID, &st); err != nil && !os.IsNotExist(errors.Unwrap(err)) {
		return err
	}
	return nil
}

// recordFailure records a start that failed before the entrypoint ran.
func recordFailure(s *store.Store, c *store.Container, err error) {
	now := time.Now().UTC()
	s.SetState(c.ID, &store.ContainerState{Status: store.StatusExited, ExitCode: child.ErrorCode(err), Error: err.Error(), StartedAt: now, FinishedAt: now})
}
