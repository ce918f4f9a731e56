package run

import (
	"fmt"

	"tug/store"
)

// Pause freezes every process of a running container (the cgroup
// freezer: v2's cgroup.freeze, v1's freezer.state), as docker pause does.
// A paused container still runs: stop, kill and rm -f thaw it first.
func Pause(s *store.Store, c *store.Container) error {
	return setPaused(s, c, true)
}

// Unpause thaws a paused container.
func Unpause(s *store.Store, c *store.Container) error {
	return setPaused(s, c, false)
}

func setPaused(s *store.Store, c *store.Container, paused bool) error {
	verb := map[bool]string{true: "pause", false: "unpause"}[paused]
	cfg, err := ContainerConfig(c)
	if err != nil {
		return err
	}
	d, err := driverOf(s, cfg)
	if err != nil {
		return err
	}
	g := d.group(c.ID, &cfg.Resources)
	if g == nil && !cfg.Held {
		return fmt.Errorf("%s %s: the freezer needs a cgroup, and rootless containers have none here (see tug doctor)", verb, c.Name)
	}
	if _, err := State(s, c); err != nil { // a dead monitor is recorded first
		return err
	}
	err = editState(s, c, func(st *store.ContainerState) error {
		switch {
		case st.Status != store.StatusRunning:
			return conflict("%s %s: it is not running", verb, c.Name)
		case st.Paused == paused && paused:
			return conflict("pause %s: it is paused already", c.Name)
		case st.Paused == paused:
			return conflict("unpause %s: it is not paused", c.Name)
		}
		if !cfg.Held { // a held one has nothing to freeze: its state says it all
			if err := g.Freeze(paused); err != nil {
				return err
			}
		}
		st.Paused = paused
		return nil
	})
	if err == nil {
		emit(s, c, verb, nil)
	}
	return err
}

// thaw unpauses a paused container before a signal that must reach it:
// a frozen process handles none, and on v1 cannot even die.
func thaw(s *store.Store, c *store.Container, st *store.ContainerState) error {
	if !st.Paused {
		return nil
	}
	if err := Unpause(s, c); err != nil {
		return err
	}
	st.Paused = false
	return nil
}
