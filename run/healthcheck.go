package run

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"tug/run/health"
	"tug/store"
)

// ErrNoHealthcheck is a healthcheck asked of a container that has none.
var ErrNoHealthcheck = errors.New("has no healthcheck")

// Healthcheck runs the container's healthcheck probe once, as exec runs
// a command, records the result in its health, and acts on it turning
// unhealthy (--health-on-failure): `tug healthcheck run`.
func Healthcheck(s *store.Store, c *store.Container) (store.HealthResult, error) {
	cfg, err := ContainerConfig(c)
	if err != nil {
		return store.HealthResult{}, err
	}
	p, err := newProber(s, c, cfg)
	if err != nil {
		return store.HealthResult{}, err
	}
	defer p.close()
	r, _, err := p.once()
	return r, err
}

// prober runs a running container's healthcheck: once by hand, or on
// schedule for the process that watches the container (its monitor, or
// a foreground tug), a probe a second for some. What is the same for
// every probe is made once: the helper (pidfd and binary), the spec, the
// open health record.
type prober struct {
	s      *store.Store
	c      *store.Container
	check  *health.Check
	helper *helper
	spec   []byte
	health *store.HealthFile
	state  *store.StateWatch
	null   *os.File // the helper's stdin
}

// newProber is a prober of container c, which must be running.
func newProber(s *store.Store, c *store.Container, cfg *Config) (*prober, error) {
	if cfg.Health == nil {
		return nil, fmt.Errorf("%s %w", c.Name, ErrNoHealthcheck)
	}
	spec, err := helperSpec(s, cfg, ExecOptions{Args: cfg.Health.Args()})
	if err != nil {
		return nil, err
	}
	spec.Probe, spec.ProbeTimeout, spec.Dial = true, cfg.Health.Timeout, cfg.Health.Dial()
	h, err := newHelper(s, c, cfg, "healthcheck of")
	if err != nil {
		return nil, err
	}
	p := &prober{s: s, c: c, check: cfg.Health, helper: h, state: s.WatchState(c.ID)}
	if p.spec, err = json.Marshal(h.withTargets(spec)); err == nil {
		p.null, err = os.Open(os.DevNull)
	}
	if err == nil {
		p.health, err = s.OpenHealth(c.ID)
	}
	if err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

// close lets go of what the probes shared.
func (p *prober) close() {
	p.helper.close()
	if p.null != nil {
		p.null.Close()
	}
	if p.health != nil {
		p.health.Close()
	}
}

// once runs the probe once, records its result, and returns it with
// the health as recorded.
func (p *prober) once() (store.HealthResult, store.Health, error) {
	st, err := p.state.State()
	if err != nil {
		return store.HealthResult{}, store.Health{}, err
	}
	if st.Status != store.StatusRunning {
		return store.HealthResult{}, store.Health{}, fmt.Errorf("healthcheck of %s: %w", p.c.Name, ErrNotRunning)
	}
	if st.Paused {
		return store.HealthResult{}, store.Health{}, conflict("healthcheck of %s: it is paused (tug unpause %s)", p.c.Name, p.c.Name)
	}
	r, err := p.probe()
	if err != nil {
		return r, store.Health{}, err
	}
	var became string
	h, err := p.health.Edit(func(h *store.Health) {
		if p.check.Record(h, r, st.StartedAt) {
			became = h.Status
		}
	})
	if err == nil && became != "" {
		emit(p.s, p.c, "health_status: "+became, map[string]string{"health_status": became})
	}
	if err == nil && became == store.HealthUnhealthy {
		err = onFailure(p.s, p.c, p.check.OnFailure)
	}
	return r, h, err
}

// probe runs the check's command in the container with its timeout.
func (p *prober) probe() (store.HealthResult, error) {
	r := store.HealthResult{Start: time.Now().UTC()}
	code, res, err := p.helper.probe(p.spec, p.null, p.check.Timeout)
	r.End = time.Now().UTC()
	if err != nil {
		return r, err
	}
	r.ExitCode, r.Output = code, res.Output
	if res.TimedOut {
		r.ExitCode, r.Output = -1, fmt.Sprintf("Health check exceeded timeout (%s)", p.check.Timeout)
	}
	return r, nil
}

// onFailure is podman's --health-on-failure, once the container turned
// unhealthy: kill it, stop it, or restart it whatever its restart
// policy.
func onFailure(s *store.Store, c *store.Container, action string) error {
	switch action {
	case "kill":
		return Signal(s, c, unix.SIGKILL)
	case "stop":
		return Stop(s, c, -1)
	case "restart":
		err := editState(s, c, func(st *store.ContainerState) error {
			st.RestartRequested = true
			return nil
		})
		if err != nil {
			return err
		}
		return Signal(s, c, unix.SIGKILL)
	}
	return nil
}

// probeOnSchedule runs the container's healthcheck on its schedule from
// a goroutine, until the returned func is called (the container
// exited): the monitor's job, or a foreground tug's.
func probeOnSchedule(s *store.Store, c *store.Container, cfg *Config) (stop func()) {
	if cfg.Health == nil {
		return func() {}
	}
	p, err := newProber(s, c, cfg)
	if err != nil {
		return func() {} // it exited already
	}
	done := make(chan struct{})
	go func() {
		defer p.close()
		started := time.Now()
		h := &store.Health{Status: store.HealthStarting}
		t := time.NewTimer(p.check.Next(h, started, started))
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			r, now, err := p.once()
			if errors.Is(err, ErrNotRunning) {
				return
			}
			if now.Status != "" {
				h = &now
			}
			t.Reset(p.check.Next(h, started, cmp.Or(r.End, time.Now())))
		}
	}()
	return func() { close(done) }
}
