package run

// A pod's infra container is held, unless the pod shares its pid
// namespace: no process runs in it, and its monitor, its keeper, is all
// that runs for it. One thread of the monitor, locked to a goroutine
// that then only waits, unshares the namespaces the members join
// (network, IPC, UTS: unshare(2) of these moves just the calling
// thread), and the network is plumbed into that thread's namespace as
// into a container's. The state records the monitor as the container's
// pid and the thread as its Holder: members join
// /proc/PID/task/HOLDER/ns/*, and the namespaces end when the thread
// does (at a stop, or with the monitor) and the last member is gone.

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"

	"golang.org/x/sys/unix"

	"tug/internal/textpages"
	tugnet "tug/net"
	"tug/run/child"
	"tug/store"
)

// holder is the thread of a monitor that holds a held container's
// namespaces.
type holder struct {
	tid int
	end chan struct{} // closed: the thread exits, and lets go of them
}

// holdNamespaces starts a holder thread with new namespaces of flags: a
// new UTS namespace is named hostname, and a new network namespace has
// its loopback up.
func holdNamespaces(flags int, hostname string) (*holder, error) {
	h := &holder{end: make(chan struct{})}
	errc := make(chan error, 1)
	go func() {
		// never unlocked: a goroutine that ends locked takes its thread
		// along, so no other goroutine ever runs in these namespaces
		runtime.LockOSThread()
		err := h.enter(flags, hostname)
		errc <- err
		if err == nil {
			<-h.end
		}
	}()
	if err := <-errc; err != nil {
		return nil, err
	}
	return h, nil
}

func (h *holder) enter(flags int, hostname string) error {
	// unshare(2) of network, IPC and UTS namespaces changes only this
	// thread's; the monitor's other threads stay in the host's
	if err := unix.Unshare(flags); err != nil {
		return fmt.Errorf("hold the pod's namespaces: %w", err)
	}
	// sethostname(2) names this thread's UTS namespace, the new one
	if flags&unix.CLONE_NEWUTS != 0 && hostname != "" {
		if err := unix.Sethostname([]byte(hostname)); err != nil {
			return fmt.Errorf("set hostname: %w", err)
		}
	}
	if flags&unix.CLONE_NEWNET != 0 {
		if err := child.LoopbackUp(); err != nil {
			return err
		}
	}
	h.tid = unix.Gettid()
	return nil
}

// release ends the holder thread.
func (h *holder) release() { close(h.end) }

// holdFlags are the namespaces a held container makes: those it does
// not share with the host.
func holdFlags(cfg *Config) int {
	flags := 0
	if cfg.Network != "host" {
		flags |= unix.CLONE_NEWNET
	}
	if !cfg.Spec.HostIPC {
		flags |= unix.CLONE_NEWIPC
	}
	if !cfg.Spec.HostUTS {
		flags |= unix.CLONE_NEWUTS
	}
	return flags
}

// killSignal is what tug kill sends a keeper for SIGKILL, which it
// cannot catch: the order to end as if killed (exit 137), yet after it
// has undone its network, which a SIGKILL would leave behind.
const killSignal = unix.SIGUSR2

// hold is the monitor of a held container: it makes its namespaces,
// plumbs its network, says it is ready, and keeps them until a stop
// signal, then undoes it all and records the exit.
func hold(s *store.Store, c *store.Container, cfg *Config, ready *os.File, sigs chan os.Signal) error {
	p, err := holdNew(s, c, cfg)
	if err != nil {
		recordFailure(s, c, err)
		return err
	}
	ready.Close()
	debug.FreeOSMemory()
	textpages.Drop()
	for sig := range sigs {
		if sig == unix.SIGTERM || sig == unix.SIGINT || sig == unix.SIGHUP {
			break
		}
		if sig == killSignal {
			p.state.ExitCode = 128 + int(unix.SIGKILL)
			break
		}
	}
	if err := p.finish(s, c, cfg); err != nil {
		fmt.Fprintf(os.Stderr, "tug: %s: %s\n", c.Name, err)
	}
	return nil
}

// holdNew runs the steps of a launch that a held container takes.
func holdNew(s *store.Store, c *store.Container, cfg *Config) (*process, error) {
	l := &launcher{s: s, c: c, cfg: cfg, spec: cfg.Spec, p: &process{id: c.ID}}
	defer l.closeAll()
	steps := []func() error{
		l.files,     // /etc/hosts and co., which the members mount
		l.sharedIPC, // its /dev/shm, which they mount too
		l.hold,
		l.holdNetwork,
		l.record,
	}
	for _, step := range steps {
		if err := step(); err != nil {
			l.unwind()
			return nil, err
		}
	}
	return l.p, nil
}

func (l *launcher) hold() error {
	h, err := holdNamespaces(holdFlags(l.cfg), l.spec.Hostname)
	if err != nil {
		return err
	}
	l.p.holder = h
	l.keep(h.release)
	return nil
}

func (l *launcher) holdNetwork() error {
	if !bridged(l.cfg) && !tugnet.IsUserMode(l.cfg.Network) {
		return nil
	}
	return l.plumb(l.p.holder.tid)
}

// nsPid is the pid whose /proc/PID/ns/* are a running container's
// namespaces: its first process's, or its holder thread's.
func nsPid(st *store.ContainerState) int {
	if st.Holder != 0 {
		return st.Holder
	}
	return st.Pid
}

// processes tells whether a container's processes run: it runs and is
// not held, so it has a root of its own to read and a process to enter.
func processes(st *store.ContainerState) bool {
	return st.Status == store.StatusRunning && st.Holder == 0
}

// attachable refuses to attach to c, or to start it attached, when it
// is held: it has no stdio.
func (cfg *Config) attachable(c *store.Container) error {
	if cfg.Held {
		return conflict("%s is a pod's infra container, which has no stdio to attach to", c.Name)
	}
	return nil
}
