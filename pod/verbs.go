package pod

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"tug/run"
	"tug/store"
)

// Members are a pod's containers but its infra container, oldest first,
// and the infra container (nil if it is gone).
func Members(s *store.Store, p *store.Pod) (infra *store.Container, members []*store.Container, err error) {
	all, err := s.PodMembers(p.ID)
	if err != nil {
		return nil, nil, err
	}
	for _, c := range all {
		if c.ID == p.Infra {
			infra = c
		} else {
			members = append(members, c)
		}
	}
	return infra, members, nil
}

// Start starts the infra container, then each member that does not
// run, in the order they were made; it goes on past a failure.
func Start(s *store.Store, p *store.Pod) error {
	infra, members, err := Members(s, p)
	if err != nil {
		return err
	}
	if infra == nil {
		return fmt.Errorf("pod %s: its infra container is gone: remove the pod", p.Name)
	}
	wait := StartAhead(s, p)
	var errs []error
	for _, c := range members {
		errs = append(errs, startIfStopped(s, c))
	}
	return errors.Join(append(errs, wait())...)
}

// StartAhead starts the pod's infra container, if it does not run, at
// the same time as what the caller does next (a member's start, which
// waits for it under the pod's lock); wait returns once it is up.
func StartAhead(s *store.Store, p *store.Pod) (wait func() error) {
	done := make(chan error, 1)
	go func() { done <- run.StartInfra(s, p) }()
	return func() error { return <-done }
}

func startIfStopped(s *store.Store, c *store.Container) error {
	st, err := run.State(s, c)
	if err != nil || st.Status == store.StatusRunning {
		return err
	}
	return run.StartDetached(s, c)
}

// Stop stops the members all at once (each with its stop signal and
// timeout, as stop does), then the infra container.
func Stop(s *store.Store, p *store.Pod, timeout time.Duration) error {
	infra, members, err := Members(s, p)
	if err != nil {
		return err
	}
	err = each(members, func(c *store.Container) error { return run.Stop(s, c, timeout) })
	if infra != nil {
		err = errors.Join(err, run.Stop(s, infra, timeout))
	}
	return err
}

// Restart stops the pod and starts it again.
func Restart(s *store.Store, p *store.Pod, timeout time.Duration) error {
	if err := Stop(s, p, timeout); err != nil {
		return err
	}
	return Start(s, p)
}

// Kill sends sig to every running container of the pod, the members
// first.
func Kill(s *store.Store, p *store.Pod, sig unix.Signal) error {
	return eachRunning(s, p, func(c *store.Container) error { return run.Signal(s, c, sig) })
}

// Pause freezes every running container of the pod; Unpause thaws them.
func Pause(s *store.Store, p *store.Pod) error { return eachRunning(s, p, pauser(s, run.Pause)) }

// Unpause thaws the pod's paused containers.
func Unpause(s *store.Store, p *store.Pod) error { return eachRunning(s, p, pauser(s, run.Unpause)) }

// pauser is verb on a container, which says nothing when it is in the
// state asked for already (some of a pod's may be).
func pauser(s *store.Store, verb func(*store.Store, *store.Container) error) func(*store.Container) error {
	return func(c *store.Container) error {
		if err := verb(s, c); err != nil && !errors.Is(err, run.ErrConflict) {
			return err
		}
		return nil
	}
}

// eachRunning runs fn on the pod's running containers, members first,
// each at once.
func eachRunning(s *store.Store, p *store.Pod, fn func(*store.Container) error) error {
	infra, members, err := Members(s, p)
	if err != nil {
		return err
	}
	var running []*store.Container
	for _, c := range members {
		if st, err := run.State(s, c); err == nil && st.Status == store.StatusRunning {
			running = append(running, c)
		}
	}
	if err := each(running, fn); err != nil {
		return err
	}
	if infra == nil {
		return nil
	}
	if st, err := run.State(s, infra); err != nil || st.Status != store.StatusRunning {
		return err
	}
	return fn(infra)
}

// each runs fn on every container at once, and joins the errors but
// of those that were not running.
func each(ctrs []*store.Container, fn func(*store.Container) error) error {
	return run.Each(ctrs, func(c *store.Container) error {
		if err := fn(c); !errors.Is(err, run.ErrNotRunning) {
			return err
		}
		return nil
	})
}

// Remove removes the pod with its containers. A running pod is refused
// without force, which stops it first (after timeout).
func Remove(s *store.Store, p *store.Pod, force bool, timeout time.Duration) error {
	infra, members, err := Members(s, p)
	if err != nil {
		return err
	}
	if !force {
		for _, c := range append(members, infra) {
			if c == nil {
				continue
			}
			if st, err := run.State(s, c); err == nil && st.Status == store.StatusRunning {
				return fmt.Errorf("pod %s has running containers: stop it first, or use pod rm -f: %w", p.Name, run.ErrConflict)
			}
		}
	}
	opt := run.RemoveOptions{Force: true, Timeout: timeout}
	if err := each(members, func(c *store.Container) error { return run.RemoveRef(s, c.ID, opt) }); err != nil {
		return err
	}
	if infra != nil {
		opt.Infra = true
		if err := run.RemoveRef(s, infra.ID, opt); err != nil {
			return err
		}
	}
	return s.RemovePod(p.ID)
}

// Prune removes every pod none of whose containers runs, and returns
// their IDs.
func Prune(s *store.Store) ([]string, error) {
	pods, err := s.Pods()
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, p := range pods {
		if st, err := Status(s, p); err != nil || st == StatusRunning || st == StatusDegraded || st == StatusPaused {
			continue
		}
		if err := Remove(s, p, false, 0); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, p.ID)
	}
	return removed, errors.Join(errs...)
}
