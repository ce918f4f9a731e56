package run

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"tug/run/childspec"
	"tug/store"

	"golang.org/x/sys/unix"
)

func TestCapabilities(t *testing.T) {
	has := func(caps []string, c string) bool { return slices.Contains(caps, c) }
	def, err := capabilities(Security{})
	if err != nil || !reflect.DeepEqual(def, childspec.DefaultCaps()) {
		t.Errorf("default: %v %v", def, err)
	}
	c, err := capabilities(Security{CapAdd: []string{"net_admin", "CAP_SYS_PTRACE"}, CapDrop: []string{"chown", "CAP_KILL"}})
	if err != nil || !has(c, "CAP_NET_ADMIN") || !has(c, "CAP_SYS_PTRACE") || has(c, "CAP_CHOWN") || has(c, "CAP_KILL") {
		t.Errorf("add/drop: %v %v", c, err)
	}
	if c, err := capabilities(Security{CapDrop: []string{"ALL"}, CapAdd: []string{"chown"}}); err != nil || !reflect.DeepEqual(c, []string{"CAP_CHOWN"}) {
		t.Errorf("drop ALL, add one: %v %v", c, err)
	}
	all, err := capabilities(Security{CapAdd: []string{"all"}})
	if err != nil || !has(all, "CAP_SYS_ADMIN") {
		t.Errorf("add ALL: %v", err)
	}
	if priv, err := capabilities(Security{Privileged: true}); err != nil || len(priv) != len(all) {
		t.Errorf("privileged: %d caps, %v; all is %d", len(priv), err, len(all))
	}
	for _, bad := range []Security{{CapAdd: []string{"flying"}}, {CapDrop: []string{"CAP_NOPE"}}} {
		if _, err := capabilities(bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestRlimitsSysctlsTmpfs(t *testing.T) {
	rl, err := rlimits([]string{"nofile=1024:2048", "nproc=-1", "core=unlimited:unlimited"})
	want := []Rlimit{{Resource: unix.RLIMIT_NOFILE, Soft: 1024, Hard: 2048},
		{Resource: unix.RLIMIT_NPROC, Soft: unix.RLIM_INFINITY, Hard: unix.RLIM_INFINITY},
		{Resource: unix.RLIMIT_CORE, Soft: unix.RLIM_INFINITY, Hard: unix.RLIM_INFINITY}}
	if err != nil || !reflect.DeepEqual(rl, want) {
		t.Errorf("rlimits: %+v %v", rl, err)
	}
	for _, bad := range []string{"nofile", "bogus=1", "nofile=2:1", "nofile=x"} {
		if _, err := rlimits([]string{bad}); err == nil {
			t.Errorf("--ulimit %s accepted", bad)
		}
	}
	sc, err := sysctls([]string{"net.ipv4.ip_forward=1", "kernel.shmmax=1", "fs.mqueue.msg_max=5", "kernel.sem=1 2 3 4"})
	if err != nil || len(sc) != 4 || sc["kernel.sem"] != "1 2 3 4" {
		t.Errorf("sysctls: %v %v", sc, err)
	}
	for _, bad := range []string{"kernel.panic=1", "vm.swappiness=1", "net.core"} {
		if _, err := sysctls([]string{bad}); err == nil {
			t.Errorf("--sysctl %s accepted", bad)
		}
	}
	tm, err := tmpfsMounts([]string{"/cache:size=1m", "/tmp/"}, true)
	wantT := []Tmpfs{{Destination: "/cache", Options: "size=1m"}, {Destination: "/tmp"}, {Destination: "/run", Options: "mode=1777"}}
	if err != nil || !reflect.DeepEqual(tm, wantT) {
		t.Errorf("tmpfs: %+v %v", tm, err)
	}
	for _, bad := range []string{"rel", "/"} {
		if _, err := tmpfsMounts([]string{bad}, false); err == nil {
			t.Errorf("--tmpfs %s accepted", bad)
		}
	}
}

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]unix.Signal{"KILL": unix.SIGKILL, "SIGTERM": unix.SIGTERM, "hup": unix.SIGHUP, "9": unix.SIGKILL, "15": unix.SIGTERM} {
		if got, err := ParseSignal(in); err != nil || got != want {
			t.Errorf("%s: %v %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "NOPE", "0", "65", "-1"} {
		if _, err := ParseSignal(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestDevices(t *testing.T) {
	d, err := devices([]string{"/dev/null", "/dev/zero:/dev/z", "/dev/full:r", "/dev/null:/x/null:rw"})
	if err != nil || len(d) != 4 {
		t.Fatalf("devices: %+v %v", d, err)
	}
	for i, want := range []Device{
		{Path: "/dev/null", Type: 'c', Major: 1, Minor: 3, Access: "rwm"},
		{Path: "/dev/z", Type: 'c', Major: 1, Minor: 5, Access: "rwm"},
		{Path: "/dev/full", Type: 'c', Major: 1, Minor: 7, Access: "r"},
		{Path: "/x/null", Type: 'c', Major: 1, Minor: 3, Access: "rw"},
	} {
		got := d[i]
		got.Mode = 0
		if got != want {
			t.Errorf("%d: %+v, want %+v", i, got, want)
		}
	}
	for _, bad := range []string{"/nonexistent", "/etc/passwd", "/dev/null:rel", "/dev/null:/x:rwx", "/a:/b:/c:d"} {
		if _, err := devices([]string{bad}); err == nil {
			t.Errorf("--device %s accepted", bad)
		}
	}
}

// TestSeccompPrograms compiles docker's default profile (for the default
// capabilities and with CAP_SYS_ADMIN, which unlocks more calls), a
// custom profile file, and unconfined, and checks the JSON form the
// spec carries round-trips.
func TestSeccompPrograms(t *testing.T) {
	def, err := compileSeccomp("", childspec.DefaultCaps())
	if err != nil || len(def) < 50 {
		t.Fatalf("default profile: %d instructions, %v", len(def), err)
	}
	admin, err := compileSeccomp("", append(childspec.DefaultCaps(), "CAP_SYS_ADMIN"))
	if err != nil || reflect.DeepEqual(admin, def) {
		t.Errorf("CAP_SYS_ADMIN changes nothing: %v", err)
	}
	if p, err := compileSeccomp("unconfined", nil); err != nil || p != nil {
		t.Errorf("unconfined: %v %v", p, err)
	}
	file := filepath.Join(t.TempDir(), "p.json")
	os.WriteFile(file, []byte(`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}`), 0o600)
	custom, err := compileSeccomp(file, nil)
	if err != nil || len(custom) == 0 {
		t.Errorf("custom profile: %v", err)
	}
	if _, err := compileSeccomp(filepath.Join(t.TempDir(), "missing.json"), nil); err == nil {
		t.Error("a missing profile compiled")
	}
	b, err := json.Marshal(def)
	var back childspec.BPF
	if err != nil || json.Unmarshal(b, &back) != nil || !reflect.DeepEqual(back, childspec.BPF(def)) {
		t.Errorf("JSON round trip: %v", err)
	}
	cached, err := cachedSeccomp(t.TempDir(), "", childspec.DefaultCaps())
	if err != nil || !reflect.DeepEqual(cached, def) {
		t.Errorf("cached: %v", err)
	}
}

// TestSeccompInStore: a record names its filter in the store, and start
// and exec get it back whole; a record of before, with the filter in its
// spec, keeps that one.
func TestSeccompInStore(t *testing.T) {
	s, err := store.Open(filepath.Join(t.TempDir(), "root"), filepath.Join(t.TempDir(), "run"))
	if err != nil {
		t.Fatal(err)
	}
	def, err := compileSeccomp("", childspec.DefaultCaps())
	if err != nil {
		t.Fatal(err)
	}
	ref, err := s.PutSeccomp(childspec.BPF(def).Bytes())
	if err != nil {
		t.Fatal(err)
	}
	cfg := &Config{SeccompRef: ref}
	if err := cfg.withSeccomp(s); err != nil || !reflect.DeepEqual(cfg.Spec.Seccomp, childspec.BPF(def)) {
		t.Errorf("filter from the store: %d instructions, %v", len(cfg.Spec.Seccomp), err)
	}
	old := &Config{Spec: Spec{Seccomp: childspec.BPF(def[:3])}}
	if err := old.withSeccomp(s); err != nil || len(old.Spec.Seccomp) != 3 {
		t.Errorf("a record's own filter: %d instructions, %v", len(old.Spec.Seccomp), err)
	}
	missing := &Config{SeccompRef: strings.Repeat("0", 64)}
	if err := missing.withSeccomp(s); err == nil {
		t.Error("a missing filter gave none and no error")
	}
}
