package compose

import (
	"errors"
	"fmt"
	"time"

	"tug/compose/plan"
	tugnet "tug/net"
	"tug/run"
	"tug/store"
)

// DownOptions are compose down's flags.
type DownOptions struct {
	Volumes       bool          // the project's named volumes and the containers' anonymous ones too
	RemoveOrphans bool          // containers of services the files no longer have too
	Timeout       time.Duration // how long a stop waits; negative: each container's own
	Subnet        string        // the config's default subnet
	Report        func(kind, name, what string)
}

// Down stops and removes the project's containers, then its networks,
// and with Volumes its volumes, as docker compose down does. External
// networks and volumes stay.
func Down(s *store.Store, p *plan.Project, opt DownOptions) error {
	ctrs, err := Containers(s, p.Name, true)
	if err != nil {
		return err
	}
	var gone []*store.Container
	for _, c := range ctrs {
		if _, ok := Service(p, c.Labels[LabelService]); ok || opt.RemoveOrphans {
			gone = append(gone, c)
		}
	}
	if err := removeAll(s, gone, opt); err != nil {
		return err
	}
	if err := removePod(s, p, opt); err != nil {
		return err
	}
	var errs []error
	for _, n := range p.Networks {
		if n.External {
			continue
		}
		err := tugnet.Remove(s, n.Name, opt.Subnet)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case errors.Is(err, store.ErrInUse): // by another project's, or another tool's, as docker compose leaves it
			reportTo(opt.Report, "Warning", "network "+n.Name, "still in use, so kept")
		case err != nil:
			errs = append(errs, fmt.Errorf("network %s: %w", n.Name, err))
		default:
			reportTo(opt.Report, "Network", n.Name, "Removed")
		}
	}
	if !opt.Volumes {
		return errors.Join(errs...)
	}
	for _, v := range p.Volumes {
		if v.External {
			continue
		}
		err := s.RemoveVolume(v.Name)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			errs = append(errs, fmt.Errorf("volume %s: %w", v.Name, err))
		default:
			reportTo(opt.Report, "Volume", v.Name, "Removed")
		}
	}
	return errors.Join(errs...)
}

// removeAll stops and removes ctrs, all at once.
func removeAll(s *store.Store, ctrs []*store.Container, opt DownOptions) error {
	return Each(ctrs, func(c *store.Container) error {
		err := run.RemoveRef(s, c.ID, run.RemoveOptions{Force: true, Timeout: stopTimeout(c, opt.Timeout), Volumes: opt.Volumes})
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err == nil {
			reportTo(opt.Report, "Container", c.Name, "Removed")
		}
		return err
	})
}

// Stop stops ctrs at once, each after timeout (negative: its own).
func Stop(s *store.Store, ctrs []*store.Container, timeout time.Duration) error {
	return Each(ctrs, func(c *store.Container) error { return run.Stop(s, c, stopTimeout(c, timeout)) })
}

// RemoveImages removes the images of the project's services: with all
// every one, else those built for a service without an image name of
// its own (PROJECT-SERVICE), as down --rmi local does.
func RemoveImages(s *store.Store, p *plan.Project, all bool, report func(kind, name, what string)) error {
	var errs []error
	for _, svc := range p.Services {
		if !all && (svc.Build == nil || svc.ImageSet) {
			continue
		}
		_, err := s.RemoveImage(svc.Image, false)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			errs = append(errs, fmt.Errorf("image %s: %w", svc.Image, err))
		default:
			reportTo(report, "Image", svc.Image, "Removed")
		}
	}
	return errors.Join(errs...)
}

// stopTimeout is how long a stop of c waits: timeout, or when that is
// negative c's own --stop-timeout (docker's 10 s without one).
func stopTimeout(c *store.Container, timeout time.Duration) time.Duration {
	if timeout >= 0 {
		return timeout
	}
	if cfg, err := run.ContainerConfig(c); err == nil && cfg.StopTimeout != nil {
		return time.Duration(*cfg.StopTimeout) * time.Second
	}
	return 10 * time.Second
}

func reportTo(r func(kind, name, what string), kind, name, what string) {
	if r != nil {
		r(kind, name, what)
	}
}
