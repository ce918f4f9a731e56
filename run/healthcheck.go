package run

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"tug/store"
)

// ErrNoHealthcheck is a healthcheck asked of a container that has none.
var ErrNoHealthcheck = errors.New("has no healthcheck")

// Healthcheck runs the container's healthcheck probe once, as exec runs
// a command, records the result in its health, and acts on it turning
// unhealthy (--health-on-failure). The monitor runs it on schedule;
// `tug healthcheck run` by hand.
func Healthcheck(s *store.Store, c *store.Container) (store.HealthResult, error) {
	cfg, err := ContainerConfig(c)
	if err != nil {
		return store.HealthResult{}, err
	}
	r, _, err := healthcheck(s, c, cfg)
	return r, err
}

// healthcheck is Healthcheck with the container's config read already
// (the monitor's, once for all its probes), which also returns the
// health as it recorded it.
func healthcheck(s *store.Store, c *store.Container, cfg *Config) (store.HealthResult, store.Health, error) {
	if cfg.Health == nil {
		return store.HealthResult{}, store.Health{}, fmt.Errorf("%s %w", c.Name, ErrNoHealthcheck)
	}
	r, err := probe(s, c, cfg)
	if err != nil {
		return r, store.Health{}, err
	}
	var became string
	var h store.Health
	err = editState(s, c, func(st *store.ContainerState) error {
		if st.Status != store.StatusRunning {
			return fmt.Errorf("%s: %w", c.Name, ErrNotRunning)
		}
		if st.Health == nil {
			st.Health = &store.Health{Status: store.HealthStarting}
		}
		if cfg.Health.Record(st.Health, r, st.StartedAt) {
			became = st.Health.Status
		}
		h = *st.Health
		return nil
	})
	if err == nil && became != "" {
		emit(s, c, "health_status: "+became, map[string]string{"health_status": became})
	}
	if err == nil && became == store.HealthUnhealthy {
		err = onFailure(s, c, cfg.Health.OnFailure)
	}
	return r, h, err
}

// probe runs the check's command in the container with its timeout, its
// output (stdout and stderr together) kept up to 4 KiB.
func probe(s *store.Store, c *store.Container, cfg *Config) (store.HealthResult, error) {
	check := cfg.Health
	r := store.HealthResult{Start: time.Now().UTC()}
	pr, pw, err := os.Pipe()
	if err != nil {
		return r, err
	}
	out := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(pr, 4096))
		io.Copy(io.Discard, pr)
		pr.Close()
		out <- string(b)
	}()
	code, err := execIn(s, c, cfg, ExecOptions{Args: check.Args(), Timeout: check.Timeout}, IO{Stdout: pw, Stderr: pw})
	pw.Close()
	r.Output, r.End = <-out, time.Now().UTC()
	if err != nil {
		return r, err
	}
	r.ExitCode = code
	if r.End.Sub(r.Start) >= check.Timeout {
		r.ExitCode, r.Output = -1, fmt.Sprintf("Health check exceeded timeout (%s)", check.Timeout)
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
	check := cfg.Health
	if check == nil {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		started := time.Now()
		h := &store.Health{Status: store.HealthStarting}
		t := time.NewTimer(check.Next(h, started, started))
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			r, now, err := healthcheck(s, c, cfg)
			if errors.Is(err, ErrNotRunning) {
				return
			}
			if now.Status != "" {
				h = &now
			}
			t.Reset(check.Next(h, started, cmp.Or(r.End, time.Now())))
		}
	}()
	return func() { close(done) }
}
