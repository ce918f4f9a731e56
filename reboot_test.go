package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestRestartAtBoot runs in the v2 guest in two halves, one each side
// of a reboot that the harness makes (.ci/v2). Before it: tug is
// installed as make install put it (with tug-restart.service), the unit
// is enabled, and containers of each restart policy are left running or
// stopped. After it: the unit has started those that docker's daemon
// would start (always, and unless-stopped unless stopped by a user),
// and no others.
func TestRestartAtBoot(t *testing.T) {
	env := needE2E(t)
	installed, reboot := os.Getenv("TUG_TEST_INSTALL"), os.Getenv("TUG_TEST_REBOOT")
	if installed == "" || reboot == "" {
		t.Skip("it reboots the host: the v2 guest runs it (make test-v2)")
	}
	if os.Getenv("TUG_TEST_REBOOTED") == "" {
		beforeReboot(t, env, installed, reboot)
	} else {
		afterReboot(t)
	}
}

// bootCase is a container of TestRestartAtBoot: its restart policy,
// whether a user stops it before the reboot, and whether it runs after.
type bootCase struct {
	name, restart string
	stopped, back bool
}

func bootCases() []bootCase {
	return []bootCase{
		{"boot-always", "always", false, true},
		{"boot-always-stopped", "always", true, true},
		{"boot-unless", "unless-stopped", false, true},
		{"boot-unless-stopped", "unless-stopped", true, false},
		{"boot-on-failure", "on-failure", false, false},
		{"boot-no", "no", false, false},
	}
}

func beforeReboot(t *testing.T, env *e2e, installed, reboot string) {
	tug := "/usr/local/bin/tug"
	if out, err := exec.Command("cp", "-a", installed+"/.", "/").CombinedOutput(); err != nil {
		t.Fatalf("install: %v: %s", err, out)
	}
	cfg := fmt.Sprintf("[registries]\ninsecure = [%q]\n\n[registries.mirrors]\n\"docker.io\" = [%q]\n", env.registry, env.registry)
	if err := os.MkdirAll("/etc/tug", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("/etc/tug/config.toml", []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	sh(t, "systemctl", "daemon-reload")
	sh(t, "systemctl", "enable", "tug-restart.service")
	sh(t, tug, "pull", "-q", "busybox")
	for _, c := range bootCases() {
		sh(t, tug, "run", "-d", "--name", c.name, "--restart", c.restart, "busybox", "sleep", "1000")
		if c.stopped {
			sh(t, tug, "stop", "-t", "1", c.name)
		}
	}
	if err := os.WriteFile(reboot, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Log("containers made; the harness reboots the guest")
}

func afterReboot(t *testing.T) {
	tug := "/usr/local/bin/tug"
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		out, _ := exec.Command("systemctl", "is-active", "tug-restart.service").Output()
		if strings.TrimSpace(string(out)) == "active" {
			break
		}
		if time.Now().After(deadline) {
			status, _ := exec.Command("systemctl", "status", "tug-restart.service").CombinedOutput()
			t.Fatalf("tug-restart.service did not finish: %s", status)
		}
	}
	for _, c := range bootCases() {
		got := strings.TrimSpace(sh(t, tug, "inspect", "--format", "{{.State.Running}}", c.name))
		if got != fmt.Sprint(c.back) {
			t.Errorf("%s (--restart %s, stopped %v): running %s after the reboot, want %v", c.name, c.restart, c.stopped, got, c.back)
		}
	}
	// the unit is done, and none of what it started is in its cgroup
	procs, err := os.ReadFile("/sys/fs/cgroup/system.slice/tug-restart.service/cgroup.procs")
	if err == nil && len(strings.TrimSpace(string(procs))) > 0 {
		t.Errorf("tug-restart.service still holds processes: %s", procs)
	}
	for _, c := range bootCases() {
		exec.Command(tug, "rm", "-f", c.name).Run()
	}
}

// sh runs a command and returns its output, failing the test if it fails.
func sh(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}
