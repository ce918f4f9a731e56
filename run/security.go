package run

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	units "github.com/docker/go-units"
	"golang.org/x/sys/unix"

	"tug/run/cgroups"
	"tug/run/child"
	"tug/run/childspec"
)

// Security are the flags that shape a container's security profile and
// its kernel settings.
type Security struct {
	CapAdd, CapDrop []string
	Privileged      bool
	SecurityOpts    []string // no-new-privileges, seccomp=unconfined|PROFILE.json
	Tmpfs           []string // PATH[:OPTIONS]
	MountTmpfs      []string // --mount type=tmpfs, in --tmpfs's form
	Ulimits         []string // NAME=SOFT[:HARD]
	Sysctls         []string // NAME=VALUE, namespaced ones only
	ShmSize         string
	OOMScoreAdj     int
	Devices         []string // HOST[:CONTAINER][:rwm]
	DeviceRules     []string // --device-cgroup-rule: TYPE MAJOR:MINOR ACCESS
}

// applySecurity fills in the spec's capabilities, seccomp program and
// kernel settings from sec, and the device rules of res.
func applySecurity(spec *Spec, res *cgroups.Resources, sec Security, cacheDir string) error {
	caps, err := capabilities(sec)
	if err != nil {
		return err
	}
	spec.Caps = caps
	profile := ""
	for _, so := range sec.SecurityOpts {
		k, v, _ := strings.Cut(so, "=")
		if !strings.Contains(so, "=") {
			k, v, _ = strings.Cut(so, ":")
		}
		switch {
		case k == "no-new-privileges" && (v == "" || v == "true"):
			spec.NoNewPrivs = true
		case k == "no-new-privileges" && v == "false":
		case k == "seccomp" && v != "":
			profile = v
		default:
			return fmt.Errorf("--security-opt %q: want no-new-privileges, seccomp=unconfined or seccomp=PROFILE.json", so)
		}
	}
	if sec.Privileged {
		spec.Privileged, spec.MaskedPaths, spec.ReadonlyPaths = true, nil, nil
		profile = "unconfined"
	}
	if spec.Seccomp, err = cachedSeccomp(cacheDir, profile, caps); err != nil {
		return err
	}
	if spec.Tmpfs, err = tmpfsMounts(append(sec.Tmpfs, sec.MountTmpfs...), spec.ReadOnly); err != nil {
		return err
	}
	if spec.Rlimits, err = rlimits(sec.Ulimits); err != nil {
		return err
	}
	if spec.Sysctls, err = sysctls(sec.Sysctls); err != nil {
		return err
	}
	if sec.ShmSize != "" {
		n, err := units.RAMInBytes(sec.ShmSize)
		if err != nil || n <= 0 {
			return fmt.Errorf("--shm-size %q: invalid size", sec.ShmSize)
		}
		spec.ShmSize = n
	}
	if sec.OOMScoreAdj < -1000 || sec.OOMScoreAdj > 1000 {
		return fmt.Errorf("--oom-score-adj %d: want -1000 to 1000", sec.OOMScoreAdj)
	}
	spec.OOMScoreAdj = sec.OOMScoreAdj
	if spec.Devices, err = devices(sec.Devices); err != nil {
		return err
	}
	extra, err := parseDeviceRules(sec.DeviceRules)
	if err != nil {
		return err
	}
	res.Devices = deviceRules(spec.Devices, extra, sec.Privileged)
	return nil
}

// capabilities is docker's default set with --cap-add and --cap-drop
// applied (ALL included), or every capability with --privileged.
func capabilities(sec Security) ([]string, error) {
	all := make([]string, 0, 41)
	for name, n := range child.CapNames() {
		if n <= child.LastCap() {
			all = append(all, name)
		}
	}
	slices.Sort(all)
	if sec.Privileged {
		return all, nil
	}
	norm := func(c string) (string, error) {
		c = strings.ToUpper(c)
		if c == "ALL" {
			return c, nil
		}
		if !strings.HasPrefix(c, "CAP_") {
			c = "CAP_" + c
		}
		if _, ok := child.CapNames()[c]; !ok {
			return "", fmt.Errorf("unknown capability %q", c)
		}
		return c, nil
	}
	caps := childspec.DefaultCaps()
	for _, d := range sec.CapDrop {
		c, err := norm(d)
		if err != nil {
			return nil, fmt.Errorf("--cap-drop: %w", err)
		}
		if c == "ALL" {
			caps = nil
			continue
		}
		caps = slices.DeleteFunc(caps, func(x string) bool { return x == c })
	}
	for _, a := range sec.CapAdd {
		c, err := norm(a)
		if err != nil {
			return nil, fmt.Errorf("--cap-add: %w", err)
		}
		if c == "ALL" {
			caps = all
			continue
		}
		if !slices.Contains(caps, c) {
			caps = append(caps, c)
		}
	}
	return caps, nil
}

// tmpfsMounts parses --tmpfs; --read-only adds /run and /tmp, as
// podman's read-only-tmpfs does, unless given already.
func tmpfsMounts(specs []string, readOnly bool) ([]Tmpfs, error) {
	var out []Tmpfs
	for _, s := range specs {
		dst, opts, _ := strings.Cut(s, ":")
		if !filepath.IsAbs(dst) || filepath.Clean(dst) == "/" {
			return nil, fmt.Errorf("--tmpfs %q: the path must be absolute and not /", s)
		}
		out = append(out, Tmpfs{Destination: filepath.Clean(dst), Options: opts})
	}
	if readOnly {
		for _, d := range []string{"/run", "/tmp"} {
			if !slices.ContainsFunc(out, func(t Tmpfs) bool { return t.Destination == d }) {
				out = append(out, Tmpfs{Destination: d, Options: "mode=1777"})
			}
		}
	}
	return out, nil
}

// rlimitNames are --ulimit's names, as docker takes them.
func rlimitNames() map[string]int {
	return map[string]int{
		"core": unix.RLIMIT_CORE, "cpu": unix.RLIMIT_CPU, "data": unix.RLIMIT_DATA, "fsize": unix.RLIMIT_FSIZE,
		"locks": unix.RLIMIT_LOCKS, "memlock": unix.RLIMIT_MEMLOCK, "msgqueue": unix.RLIMIT_MSGQUEUE,
		"nice": unix.RLIMIT_NICE, "nofile": unix.RLIMIT_NOFILE, "nproc": unix.RLIMIT_NPROC, "rss": unix.RLIMIT_RSS,
		"rtprio": unix.RLIMIT_RTPRIO, "rttime": unix.RLIMIT_RTTIME, "sigpending": unix.RLIMIT_SIGPENDING,
		"stack": unix.RLIMIT_STACK, "as": unix.RLIMIT_AS,
	}
}

// rlimits parses --ulimit NAME=SOFT[:HARD] (-1 is unlimited).
func rlimits(specs []string) ([]Rlimit, error) {
	var out []Rlimit
	for _, s := range specs {
		name, vals, ok := strings.Cut(s, "=")
		res, known := rlimitNames()[name]
		if !ok || !known {
			return nil, fmt.Errorf("--ulimit %q: want NAME=SOFT[:HARD] with a name such as nofile or nproc", s)
		}
		soft, hard, hasHard := strings.Cut(vals, ":")
		if !hasHard {
			hard = soft
		}
		sv, err1 := limitValue(soft)
		hv, err2 := limitValue(hard)
		if err1 != nil || err2 != nil || sv > hv {
			return nil, fmt.Errorf("--ulimit %q: want numbers (or -1), the soft limit at most the hard one", s)
		}
		out = append(out, Rlimit{Resource: res, Soft: sv, Hard: hv})
	}
	return out, nil
}

func limitValue(s string) (uint64, error) {
	if s == "-1" || s == "unlimited" {
		return unix.RLIM_INFINITY, nil
	}
	return strconv.ParseUint(s, 10, 64)
}

// sysctls parses --sysctl, allowing only what a container's own
// namespaces hold, as docker does.
func sysctls(specs []string) (map[string]string, error) {
	if len(specs) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, s := range specs {
		k, v, ok := strings.Cut(s, "=")
		if !ok || !namespacedSysctl(k) {
			return nil, fmt.Errorf("--sysctl %q: only namespaced sysctls (kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*, net.*) can be set", s)
		}
		out[k] = v
	}
	return out, nil
}

// hostSysctls refuses a sysctl whose namespace the container shares
// with the host (--network, --uts, --ipc host), which it would change,
// or with another container (joinsIPC: --ipc container:C).
func hostSysctls(spec *Spec, joinsIPC bool) error {
	for k := range spec.Sysctls {
		switch ns := sysctlNamespace(k); {
		case ns == "net" && spec.HostNetwork, ns == "uts" && spec.HostUTS, ns == "ipc" && spec.HostIPC:
			return fmt.Errorf("--sysctl %s: not allowed in the host's %s namespace", k, ns)
		case ns == "ipc" && joinsIPC:
			return fmt.Errorf("--sysctl %s: not allowed in another container's ipc namespace", k)
		}
	}
	return nil
}

// sysctlNamespace is the namespace a namespaced sysctl belongs to.
func sysctlNamespace(k string) string {
	switch {
	case k == "kernel.domainname", k == "kernel.hostname":
		return "uts"
	case strings.HasPrefix(k, "net."):
		return "net"
	}
	return "ipc"
}

func namespacedSysctl(k string) bool {
	switch {
	case k == "kernel.sem", k == "kernel.domainname", k == "kernel.hostname":
		return true
	case strings.HasPrefix(k, "kernel.shm"), strings.HasPrefix(k, "kernel.msg"),
		strings.HasPrefix(k, "fs.mqueue."), strings.HasPrefix(k, "net."):
		return true
	}
	return false
}

// devices parses --device HOST[:CONTAINER][:PERMS].
func devices(specs []string) ([]Device, error) {
	var out []Device
	for _, s := range specs {
		parts := strings.Split(s, ":")
		host, dst, perms := parts[0], parts[0], "rwm"
		switch len(parts) {
		case 1:
		case 2:
			if strings.Trim(parts[1], "rwm") == "" {
				perms = parts[1]
			} else {
				dst = parts[1]
			}
		case 3:
			dst, perms = parts[1], parts[2]
		default:
			return nil, fmt.Errorf("--device %q: want HOST[:CONTAINER][:rwm]", s)
		}
		var st unix.Stat_t
		if err := unix.Stat(host, &st); err != nil {
			return nil, fmt.Errorf("--device %q: %s: %w", s, host, err)
		}
		t := byte('c')
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFCHR:
		case unix.S_IFBLK:
			t = 'b'
		default:
			return nil, fmt.Errorf("--device %q: %s is not a device node", s, host)
		}
		if !filepath.IsAbs(dst) || strings.Trim(perms, "rwm") != "" {
			return nil, fmt.Errorf("--device %q: want HOST[:CONTAINER][:rwm] with absolute paths", s)
		}
		out = append(out, Device{Path: dst, Type: t, Major: unix.Major(st.Rdev), Minor: unix.Minor(st.Rdev), Mode: st.Mode & 0o777, Access: perms})
	}
	return out, nil
}

// standardDevices are the nodes every container may use: null, zero,
// full, random, urandom, tty, console, ptmx and the ptys.
func standardDevices() []cgroups.DeviceRule {
	return []cgroups.DeviceRule{
		{Type: 'c', Major: 1, Minor: 3, Access: "rwm"}, {Type: 'c', Major: 1, Minor: 5, Access: "rwm"},
		{Type: 'c', Major: 1, Minor: 7, Access: "rwm"}, {Type: 'c', Major: 1, Minor: 8, Access: "rwm"},
		{Type: 'c', Major: 1, Minor: 9, Access: "rwm"}, {Type: 'c', Major: 5, Minor: 0, Access: "rwm"},
		{Type: 'c', Major: 5, Minor: 1, Access: "rwm"}, {Type: 'c', Major: 5, Minor: 2, Access: "rwm"},
		{Type: 'c', Major: 136, Minor: -1, Access: "rwm"},
	}
}

// deviceRules is the device cgroup's allow list: the standard nodes, the
// --device ones and the --device-cgroup-rule ones; everything with
// --privileged.
func deviceRules(devs []Device, extra []cgroups.DeviceRule, privileged bool) []cgroups.DeviceRule {
	if privileged {
		return []cgroups.DeviceRule{{Type: 'a', Major: -1, Minor: -1, Access: "rwm"}}
	}
	rules := standardDevices()
	for _, d := range devs {
		rules = append(rules, cgroups.DeviceRule{Type: d.Type, Major: int64(d.Major), Minor: int64(d.Minor), Access: d.Access})
	}
	return append(rules, extra...)
}

// parseDeviceRules reads docker's --device-cgroup-rule values: "c 1:3
// rwm", "b 8:* r", "a *:* rwm" (or "a" alone).
func parseDeviceRules(specs []string) ([]cgroups.DeviceRule, error) {
	var out []cgroups.DeviceRule
	for _, s := range specs {
		r, err := parseDeviceRule(s)
		if err != nil {
			return nil, fmt.Errorf("--device-cgroup-rule %q: %w (want TYPE MAJOR:MINOR ACCESS, as 'c 1:3 rwm')", s, err)
		}
		out = append(out, r)
	}
	return out, nil
}

func parseDeviceRule(s string) (cgroups.DeviceRule, error) {
	f := strings.Fields(s)
	if len(f) == 1 && f[0] == "a" {
		return cgroups.DeviceRule{Type: 'a', Major: -1, Minor: -1, Access: "rwm"}, nil
	}
	if len(f) != 3 || len(f[0]) != 1 || !strings.Contains("abc", f[0]) {
		return cgroups.DeviceRule{}, fmt.Errorf("bad form")
	}
	r := cgroups.DeviceRule{Type: f[0][0], Access: f[2]}
	if f[2] == "" || strings.Trim(f[2], "rwm") != "" {
		return r, fmt.Errorf("access %q is not a subset of rwm", f[2])
	}
	maj, min, ok := strings.Cut(f[1], ":")
	if !ok {
		return r, fmt.Errorf("want MAJOR:MINOR")
	}
	var err error
	if r.Major, err = deviceNumber(maj); err != nil {
		return r, err
	}
	r.Minor, err = deviceNumber(min)
	return r, err
}

// deviceNumber is a major or minor number, or -1 for "*".
func deviceNumber(s string) (int64, error) {
	if s == "*" {
		return -1, nil
	}
	n, err := strconv.ParseUint(s, 10, 31)
	if err != nil {
		return 0, fmt.Errorf("device number %q: want a number up to 2147483647 or *", s)
	}
	return int64(n), nil
}
