package pod

import (
	"slices"
	"strings"
	"testing"

	"tug/run"
	"tug/store"
)

// TestStatusOf: a pod's status from its containers' states.
func TestStatusOf(t *testing.T) {
	for _, tc := range []struct {
		states []string
		want   string
	}{
		{nil, StatusCreated},
		{[]string{"created", "created"}, StatusCreated},
		{[]string{"running", "running"}, StatusRunning},
		{[]string{"running", "paused"}, StatusRunning},
		{[]string{"running", "exited"}, StatusDegraded},
		{[]string{"restarting", "created"}, StatusDegraded},
		{[]string{"paused", "paused"}, StatusPaused},
		{[]string{"paused", "exited"}, StatusPaused},
		{[]string{"exited", "created"}, StatusExited},
		{[]string{"exited", "exited"}, StatusExited},
	} {
		if got := statusOf(tc.states); got != tc.want {
			t.Errorf("statusOf(%v) = %s, want %s", tc.states, got, tc.want)
		}
	}
}

// TestParseShare: --share's namespaces, deduplicated; the default; an
// unknown one refused.
func TestParseShare(t *testing.T) {
	for in, want := range map[string]string{"": "net,ipc,uts", "pid": "pid", "net,net,uts": "net,uts", "net,ipc,uts,pid": "net,ipc,uts,pid"} {
		got, err := parseShare(in)
		if err != nil || strings.Join(got, ",") != want {
			t.Errorf("parseShare(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"cgroup", "net,", "NET"} {
		if _, err := parseShare(bad); err == nil {
			t.Errorf("parseShare(%q) is accepted", bad)
		}
	}
}

// TestJoin: a member joins what the pod shares, and may not set it.
func TestJoin(t *testing.T) {
	p := &store.Pod{ID: strings.Repeat("a", 64), Name: "web", Infra: strings.Repeat("b", 64), Share: []string{"net", "ipc"}}
	var opt run.Options
	if err := Join(p, &opt); err != nil {
		t.Fatal(err)
	}
	infra := "container:" + p.Infra
	if opt.Network != infra || opt.IPC != infra || opt.UTS != "" || opt.PID != "" || opt.Pod != p.ID {
		t.Errorf("joined: %+v", opt)
	}
	for flag, o := range map[string]run.Options{
		"--publish": {Publish: []string{"80"}}, "--network": {Network: "host"}, "--dns": {DNSSearch: []string{"x"}},
		"--add-host": {AddHosts: []string{"a:1.2.3.4"}}, "--ipc": {IPC: "private"}, "--hostname": {Hostname: "h"},
		"one pod": {Pod: strings.Repeat("c", 64)},
	} {
		if err := Join(p, &o); err == nil || !strings.Contains(err.Error(), flag) {
			t.Errorf("%s: %v", flag, err)
		}
	}
	moved := run.Options{Network: "n", Publish: []string{"80"}, Hostname: "h", DNS: []string{"1.1.1.1"}, Env: []string{"A=1"}}
	infraOpt := MoveNetwork(&moved)
	if infraOpt.Network != "n" || !slices.Equal(infraOpt.Publish, []string{"80"}) || infraOpt.Hostname != "h" || len(infraOpt.DNS) != 1 {
		t.Errorf("the pod's: %+v", infraOpt)
	}
	if err := Join(p, &moved); err != nil || len(moved.Env) != 1 {
		t.Errorf("the member's, once moved: %+v, %v", moved, err)
	}
}
