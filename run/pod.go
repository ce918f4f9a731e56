package run

// What run knows of pods (package pod makes them): a member records its
// pod (Options.Pod, store.Container.Pod) and joins the namespaces of the
// pod's infra container, which is started first when it does not run;
// the infra container is removed only with its pod.

import (
	"errors"
	"fmt"

	"tug/store"
)

// podOf is the pod of c, or nil when c has none (or it is gone).
func podOf(s *store.Store, c *store.Container) (*store.Pod, error) {
	if c.Pod == "" {
		return nil, nil
	}
	p, err := s.LookupPod(c.Pod)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil // a member a pod rm has yet to remove
	}
	return p, err
}

// IsInfra tells whether c is the infra container of its pod.
func IsInfra(s *store.Store, c *store.Container) bool {
	p, err := podOf(s, c)
	return err == nil && p != nil && p.Infra == c.ID
}

// podInfra is the launch step of a pod's member: the infra container,
// whose namespaces it joins, is started if it does not run.
func (l *launcher) podInfra() error {
	p, err := podOf(l.s, l.c)
	if err != nil || p == nil || p.Infra == l.c.ID {
		return err
	}
	return StartInfra(l.s, p)
}

// StartInfra starts pod p's infra container if it does not run, under
// the pod's lock, so that members started at once (each launch asks
// for it) start it once, and one who starts it ahead of its members
// overlaps its start with theirs.
func StartInfra(s *store.Store, p *store.Pod) error {
	lock, err := s.LockPod(p.ID)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	infra, err := s.LookupContainer(p.Infra)
	if err != nil {
		return fmt.Errorf("pod %s: its infra container: %w", p.Name, err)
	}
	st, err := State(s, infra)
	if err != nil || st.Status == store.StatusRunning {
		return err
	}
	if err := StartDetached(s, infra); err != nil {
		return fmt.Errorf("pod %s: start its infra container: %w", p.Name, err)
	}
	return nil
}
