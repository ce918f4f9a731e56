package run

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"tug/run/cgroups"
)

func TestParseDeviceRules(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // DeviceRule.String(), "" for an error
	}{
		{"c 1:3 rwm", "c 1:3 rwm"},
		{"b 8:* r", "b 8:* r"},
		{"c *:* m", "c *:* m"},
		{"a *:* rwm", "a"},
		{"a", "a"},
		{"c 1:3", ""},
		{"x 1:3 r", ""},
		{"c 1:3 rx", ""},
		{"c 1 r", ""},
		{"c 4294967296:1 r", ""},
		{"c -1:1 r", ""},
		{"", ""},
	} {
		r, err := parseDeviceRules([]string{tc.in})
		got := ""
		if err == nil {
			got = r[0].String()
		}
		if got != tc.want {
			t.Errorf("%q: got %q (%v), want %q", tc.in, got, err, tc.want)
		}
	}
}

// TestDevicePrograms loads every device filter tug builds (the default
// set, with --device, with --device-cgroup-rule, --privileged) through
// the kernel's BPF verifier and attaches it to a real cgroup v2 dir,
// then checks what a process cloned into that cgroup may open.
func TestDevicePrograms(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("BPF and cgroups need root")
	}
	layout, err := cgroups.Detect("/sys/fs/cgroup")
	if err != nil || layout.Unified == "" {
		t.Skipf("no cgroup v2 tree: %v", err)
	}
	v2 := cgroups.Layout{Version: "v2", Mount: layout.Unified, Unified: layout.Unified}
	kmsg := []cgroups.DeviceRule{{Type: 'c', Major: 1, Minor: 11, Access: "r"}}
	extra, err := parseDeviceRules([]string{"c 1:11 r", "b *:* m", "a *:* rwm"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		rules     []cgroups.DeviceRule
		kmsgOpens bool
	}{
		{"default", deviceRules(nil, nil, false), false},
		{"device", deviceRules([]Device{{Path: "/dev/kmsg", Type: 'c', Major: 1, Minor: 11, Access: "r"}}, nil, false), true},
		{"device-cgroup-rule", deviceRules(nil, kmsg, false), true},
		{"rules ending in all", deviceRules(nil, extra, false), true},
		{"privileged", deviceRules(nil, nil, true), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "tug-devtest-" + strconv.Itoa(os.Getpid())
			res := cgroups.Resources{Devices: tc.rules}
			g := cgroups.Open(v2, name, &res)
			defer g.Remove()
			if err := g.Create(res); err != nil {
				t.Fatalf("load and attach: %v", err)
			}
			fd, err := g.DirFD()
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			cmd := exec.Command("head", "-c", "0", "/dev/kmsg", "/dev/null")
			cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
			out, err := cmd.CombinedOutput()
			if opened := err == nil; opened != tc.kmsgOpens {
				t.Errorf("/dev/kmsg opened: %v, want %v (%s)", opened, tc.kmsgOpens, strings.TrimSpace(string(out)))
			}
		})
	}
}
