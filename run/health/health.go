// Package health is a container's healthcheck: the image's HEALTHCHECK
// under run's --health-* flags with docker's defaults, when its probe
// runs, and what each result does to the container's health. The
// monitor (or a foreground tug) runs the probes; this package decides.
package health

import (
	"cmp"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"tug/run/childspec"
	"tug/store"
)

// docker's defaults, and how much of the probes' history is kept.
const (
	DefaultInterval = 30 * time.Second
	DefaultTimeout  = 30 * time.Second
	DefaultStartInt = 5 * time.Second
	DefaultRetries  = 3
	keepResults     = 5
	maxOutput       = 4096
)

// Check is a container's healthcheck.
type Check struct {
	Test          []string      `json:"test"` // CMD ARGS… or CMD-SHELL COMMAND
	Interval      time.Duration `json:"interval"`
	Timeout       time.Duration `json:"timeout"`
	StartPeriod   time.Duration `json:"start_period,omitempty"`
	StartInterval time.Duration `json:"start_interval"`
	Retries       int           `json:"retries"`
	OnFailure     string        `json:"on_failure,omitempty"` // none (""), kill, restart or stop
}

// Flags are run's --health-* flags; an empty or zero one keeps the
// image's value.
type Flags struct {
	Cmd                                           string // a shell command, or a JSON array as HEALTHCHECK takes ("NONE" disables)
	Interval, Timeout, StartPeriod, StartInterval time.Duration
	Retries                                       int
	None                                          bool   // --no-healthcheck
	OnFailure                                     string // podman's --health-on-failure
}

// Resolve is the healthcheck of a container of an image with image's
// HEALTHCHECK (nil for none) under f: nil when it has none.
func Resolve(image *v1.HealthConfig, f Flags) (*Check, error) {
	switch f.OnFailure {
	case "", "none", "kill", "restart", "stop":
	default:
		return nil, fmt.Errorf("--health-on-failure %q: want none, kill, restart or stop", f.OnFailure)
	}
	for name, d := range map[string]time.Duration{"interval": f.Interval, "timeout": f.Timeout, "start-period": f.StartPeriod, "start-interval": f.StartInterval} {
		if d < 0 || d > 0 && d < time.Millisecond {
			return nil, fmt.Errorf("--health-%s %s: want a duration of 1ms or more", name, d)
		}
	}
	if f.Retries < 0 {
		return nil, fmt.Errorf("--health-retries %d: want 0 or more", f.Retries)
	}
	if f.None {
		if f.Cmd != "" {
			return nil, fmt.Errorf("--no-healthcheck conflicts with --health-cmd")
		}
		return nil, nil
	}
	var c Check
	if image != nil {
		c = Check{Test: image.Test, Interval: image.Interval, Timeout: image.Timeout, StartPeriod: image.StartPeriod, Retries: image.Retries}
	}
	if f.Cmd != "" {
		test, err := parseCmd(f.Cmd)
		if err != nil {
			return nil, err
		}
		c.Test = test
	}
	if len(c.Test) == 0 || c.Test[0] == "NONE" {
		return nil, nil
	}
	switch {
	case (c.Test[0] == "TCP" || c.Test[0] == "HTTP") && len(c.Test) == 2:
		// tug's own (kube play's tcpSocket and httpGet probes)
	case c.Test[0] != "CMD" && c.Test[0] != "CMD-SHELL" || len(c.Test) < 2:
		return nil, fmt.Errorf("healthcheck %q: want CMD ARGS… or CMD-SHELL COMMAND", c.Test)
	}
	c.Interval = cmp.Or(f.Interval, c.Interval, DefaultInterval)
	c.Timeout = cmp.Or(f.Timeout, c.Timeout, DefaultTimeout)
	c.StartPeriod = cmp.Or(f.StartPeriod, c.StartPeriod)
	c.StartInterval = cmp.Or(f.StartInterval, DefaultStartInt)
	c.Retries = cmp.Or(f.Retries, c.Retries, DefaultRetries)
	if f.OnFailure != "none" {
		c.OnFailure = f.OnFailure
	}
	return &c, nil
}

// Dial is the network probe of a TCP HOST:PORT or HTTP URL check
// (tug's own, kube play's tcpSocket and httpGet), made by the helper in
// the container's network namespace; nil for a command.
func (c *Check) Dial() *childspec.Dial {
	switch c.Test[0] {
	case "TCP":
		return &childspec.Dial{TCP: c.Test[1]}
	case "HTTP":
		return &childspec.Dial{HTTP: c.Test[1]}
	}
	return nil
}

// Args is the probe's command line in the container (for a network
// probe, only what it shows).
func (c *Check) Args() []string {
	if c.Test[0] == "CMD-SHELL" {
		return []string{"/bin/sh", "-c", c.Test[1]}
	}
	return c.Test[1:]
}

// Next is how long after the probe that ended at end the next one
// runs: the start interval while the start period lasts and the
// container is not yet healthy, else the interval.
func (c *Check) Next(h *store.Health, started, end time.Time) time.Duration {
	if c.StartPeriod > 0 && end.Sub(started) < c.StartPeriod && h.Status != store.HealthHealthy {
		return c.StartInterval
	}
	return c.Interval
}

// Record adds a probe's result to h, as docker does: a success makes
// the container healthy; a failure in the start period does not count;
// past it, Retries failures in a row make it unhealthy. It tells
// whether the status changed.
func (c *Check) Record(h *store.Health, r store.HealthResult, started time.Time) bool {
	if len(r.Output) > maxOutput {
		r.Output = r.Output[:maxOutput]
	}
	h.Log = append(h.Log, r)
	if n := len(h.Log); n > keepResults {
		h.Log = append([]store.HealthResult(nil), h.Log[n-keepResults:]...)
	}
	was := h.Status
	switch {
	case r.ExitCode == 0:
		h.Status, h.FailingStreak = store.HealthHealthy, 0
	case c.StartPeriod > 0 && r.Start.Sub(started) < c.StartPeriod && h.Status != store.HealthHealthy:
		// the start period: failures do not count
	default:
		if h.FailingStreak++; h.FailingStreak >= c.Retries {
			h.Status = store.HealthUnhealthy
		}
	}
	return h.Status != was
}

// parseCmd reads --health-cmd: a shell command (docker's), or a JSON
// array as HEALTHCHECK's exec form (podman's), CMD assumed when it does
// not start with CMD, CMD-SHELL or NONE.
func parseCmd(s string) ([]string, error) {
	if s == "NONE" {
		return []string{"NONE"}, nil
	}
	if !strings.HasPrefix(strings.TrimSpace(s), "[") {
		return []string{"CMD-SHELL", s}, nil
	}
	var test []string
	if err := json.Unmarshal([]byte(s), &test); err != nil || len(test) == 0 {
		return nil, fmt.Errorf("--health-cmd %s: want a command, or a JSON array of its words", s)
	}
	switch test[0] {
	case "CMD", "CMD-SHELL", "NONE", "TCP", "HTTP":
		return test, nil
	}
	return append([]string{"CMD"}, test...), nil
}
