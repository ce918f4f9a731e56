package run

import (
	"testing"
	"time"

	"tug/store"
)

func TestFilters(t *testing.T) {
	row := PsRow{Names: "web-1", State: "running", fullID: "abcdef0123", labels: map[string]string{"app": "web", "tier": ""}}
	for _, tc := range []struct {
		filters []string
		match   bool
	}{
		{nil, true},
		{[]string{"status=running"}, true},
		{[]string{"status=exited"}, false},
		{[]string{"status=exited", "status=running"}, true}, // values of a key: OR
		{[]string{"status=running", "name=db"}, false},      // keys: AND
		{[]string{"name=web"}, true},
		{[]string{"id=abc"}, true},
		{[]string{"id=bcd"}, false},
		{[]string{"label=app"}, true},
		{[]string{"label=app=web"}, true},
		{[]string{"label=app=db"}, false},
		{[]string{"label=tier="}, true},
		{[]string{"label=nope"}, false},
		{[]string{"label=app=web", "label=tier"}, true},    // both
		{[]string{"label=app", "label=nope"}, false},       // labels are ANDed, as docker's
		{[]string{"label=app=db", "label=app=web"}, false}, // the same key too
	} {
		f, err := ParseFilters(tc.filters)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.match(nil, row); got != tc.match {
			t.Errorf("%v: match %v", tc.filters, got)
		}
	}
	for _, bad := range []string{"status", "color=red", "=x"} {
		if _, err := ParseFilters([]string{bad}); err == nil {
			t.Errorf("--filter %q accepted", bad)
		}
	}
}

func TestSelects(t *testing.T) {
	for _, tc := range []struct {
		verb, state string
		want        bool
	}{
		{"stop", "running", true}, {"stop", "paused", true}, {"stop", "exited", false},
		{"kill", "restarting", true}, {"start", "exited", true}, {"start", "created", true}, {"start", "running", false},
		{"pause", "running", true}, {"pause", "paused", false}, {"unpause", "paused", true}, {"unpause", "running", false},
		{"rm", "running", true}, {"restart", "exited", true},
	} {
		if got := selects(tc.verb, tc.state); got != tc.want {
			t.Errorf("%s --all takes %s: %v", tc.verb, tc.state, got)
		}
	}
}

func TestStatusText(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		st   store.ContainerState
		want string
	}{
		{store.ContainerState{Status: store.StatusCreated}, "Created"},
		{store.ContainerState{Status: store.StatusRunning, StartedAt: now.Add(-5 * time.Minute)}, "Up 5 minutes"},
		{store.ContainerState{Status: store.StatusRunning, StartedAt: now.Add(-time.Hour), Paused: true}, "Up About an hour (Paused)"},
		{store.ContainerState{Status: store.StatusExited, ExitCode: 137, FinishedAt: now.Add(-3 * time.Second)}, "Exited (137) 3 seconds ago"},
		{store.ContainerState{Status: store.StatusRestarting, ExitCode: 1, FinishedAt: now}, "Restarting (1) Less than a second ago"},
	} {
		if got := StatusText(&tc.st, now); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.st, got, tc.want)
		}
	}
}
