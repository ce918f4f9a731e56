package health

import (
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"tug/store"
)

func TestResolve(t *testing.T) {
	img := &v1.HealthConfig{Test: []string{"CMD", "check"}, Interval: 10 * time.Second, Retries: 7}
	for _, tc := range []struct {
		name  string
		image *v1.HealthConfig
		f     Flags
		want  *Check
		err   string
	}{
		{"none", nil, Flags{}, nil, ""},
		{"image", img, Flags{}, &Check{Test: []string{"CMD", "check"}, Interval: 10 * time.Second, Timeout: DefaultTimeout, StartInterval: DefaultStartInt, Retries: 7}, ""},
		{"flags over image", img, Flags{Cmd: "test -f /ok", Interval: time.Second, Retries: 2, OnFailure: "restart"},
			&Check{Test: []string{"CMD-SHELL", "test -f /ok"}, Interval: time.Second, Timeout: DefaultTimeout, StartInterval: DefaultStartInt, Retries: 2, OnFailure: "restart"}, ""},
		{"json", nil, Flags{Cmd: `["curl", "-f", "localhost"]`}, &Check{Test: []string{"CMD", "curl", "-f", "localhost"}, Interval: DefaultInterval, Timeout: DefaultTimeout, StartInterval: DefaultStartInt, Retries: DefaultRetries}, ""},
		{"disabled", img, Flags{None: true}, nil, ""},
		{"NONE", img, Flags{Cmd: "NONE"}, nil, ""},
		{"image NONE", &v1.HealthConfig{Test: []string{"NONE"}}, Flags{}, nil, ""},
		{"on-failure none", img, Flags{OnFailure: "none"}, &Check{Test: []string{"CMD", "check"}, Interval: 10 * time.Second, Timeout: DefaultTimeout, StartInterval: DefaultStartInt, Retries: 7}, ""},
		{"bad on-failure", img, Flags{OnFailure: "explode"}, nil, "--health-on-failure"},
		{"bad interval", img, Flags{Interval: time.Microsecond}, nil, "--health-interval"},
		{"bad retries", img, Flags{Retries: -1}, nil, "--health-retries"},
		{"none and cmd", img, Flags{None: true, Cmd: "true"}, nil, "conflicts"},
		{"bad json", nil, Flags{Cmd: "[oops"}, nil, "JSON array"},
		{"bad test", &v1.HealthConfig{Test: []string{"CMD"}}, Flags{}, nil, "want CMD"},
	} {
		got, err := Resolve(tc.image, tc.f)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: got %v, want an error with %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if (got == nil) != (tc.want == nil) || got != nil && (!slices.Equal(got.Test, tc.want.Test) || got.Interval != tc.want.Interval ||
			got.Timeout != tc.want.Timeout || got.StartInterval != tc.want.StartInterval || got.Retries != tc.want.Retries || got.OnFailure != tc.want.OnFailure) {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

// TestRecord: a success is healthy at once; failures count only past
// the start period, and Retries of them in a row are unhealthy.
func TestRecord(t *testing.T) {
	c := &Check{Test: []string{"CMD", "x"}, Interval: time.Second, StartPeriod: 10 * time.Second, StartInterval: 100 * time.Millisecond, Retries: 2}
	start := time.Unix(1000, 0)
	h := &store.Health{Status: store.HealthStarting}
	at := func(sec int, code int) bool {
		t0 := start.Add(time.Duration(sec) * time.Second)
		return c.Record(h, store.HealthResult{Start: t0, End: t0, ExitCode: code, Output: strings.Repeat("x", 5000)}, start)
	}
	steps := []struct {
		sec, code int
		status    string
		streak    int
		changed   bool
	}{
		{1, 1, store.HealthStarting, 0, false},  // in the start period
		{2, 1, store.HealthStarting, 0, false},  // still
		{11, 1, store.HealthStarting, 1, false}, // past it: counts
		{12, 0, store.HealthHealthy, 0, true},
		{13, 1, store.HealthHealthy, 1, false},
		{14, 1, store.HealthUnhealthy, 2, true},
		{15, 0, store.HealthHealthy, 0, true},
	}
	for i, st := range steps {
		if changed := at(st.sec, st.code); changed != st.changed || h.Status != st.status || h.FailingStreak != st.streak {
			t.Errorf("step %d: %s streak %d changed %v; want %s %d %v", i, h.Status, h.FailingStreak, changed, st.status, st.streak, st.changed)
		}
	}
	if len(h.Log) != keepResults || len(h.Log[0].Output) != maxOutput {
		t.Errorf("log has %d results, output %d bytes", len(h.Log), len(h.Log[0].Output))
	}
	if d := c.Next(&store.Health{Status: store.HealthStarting}, start, start.Add(time.Second)); d != c.StartInterval {
		t.Errorf("in the start period the next probe is in %s", d)
	}
	if d := c.Next(&store.Health{Status: store.HealthStarting}, start, start.Add(11*time.Second)); d != c.Interval {
		t.Errorf("past the start period the next probe is in %s", d)
	}
}
