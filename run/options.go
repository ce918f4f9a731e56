package run

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"

	units "github.com/docker/go-units"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"

	"tug/run/cgroups"
	"tug/run/health"
)

// Options are the flags shared by run and create.
type Options struct {
	Name          string
	Entrypoint    []string // with EntrypointSet: replaces the image's ("" clears it)
	EntrypointSet bool
	Cmd           []string // replaces the image's Cmd when not empty
	Env           []string // -e K=V, or -e K to copy K from tug's environment
	EnvFiles      []string
	Workdir       string
	User          string
	Hostname      string
	Tty           bool
	Interactive   bool
	// ConsoleSize is its terminal's size (rows, cols) when it starts, from
	// a client that is not a terminal here (the API's); zero: the pty's.
	ConsoleSize   [2]uint16
	AutoRemove    bool
	Init          bool
	ReadOnly      bool
	Security      Security
	Volumes       []string // -v HOST:CONTAINER[:ro|rw]
	Mounts        []string // --mount type=bind|volume|tmpfs,…
	VolumesFrom   []string // --volumes-from CONTAINER[:ro|rw]
	Network       string   // none, host or bridge
	Publish       []string // -p [IP:][HOSTPORT:]CONTAINERPORT[/PROTO]
	Subnet        string   // of the default bridge network, from the config
	StrictLimits  bool     // config: limits tug cannot enforce are errors
	StorageDriver string   // config: a rootless container's storage driver
	CgroupManager string   // config: systemd, cgroupfs or "" (the host decides)
	ForceDriver   string   // --storage-driver: overlay or vfs, for root too
	PublishAll    bool     // -P: the image's EXPOSE ports on random host ports
	IP            string   // --ip
	MacAddress    string   // --mac-address
	UserNS        string   // --userns: "", host or keep-id
	DNS           []string
	DNSSearch     []string
	DNSOptions    []string
	AddHosts      []string // NAME:IP
	Aliases       []string // --network-alias
	Limits        Limits
	Restart       string   // no, on-failure[:N], always, unless-stopped
	LogOpts       []string // max-size=SIZE
	LogDriver     string   // k8s-file (""), json-file, none or passthrough
	Labels        []string // K=V
	TZ            string   // --tz: a zoneinfo name, or local for the host's
	Timeout       int      // --timeout: seconds the container may run, 0 for ever
	PreserveFDs   int      // --preserve-fds: tug's fds 3… the container gets
	Health        health.Flags
	StopSignal    string   // --stop-signal, over the image's STOPSIGNAL
	StopTimeout   *int     // --stop-timeout: seconds stop waits; nil for docker's 10
	Umask         string   // --umask: octal, the entrypoint's
	EnvHost       bool     // --env-host: the container gets tug's environment (under -e)
	Annotations   []string // --annotation K=V
	UTS           string   // --uts: "" (private), host or container:NAME
	NoHosts       bool     // --no-hosts: the image's /etc/hosts, not one tug writes
	GroupAdd      []string // --group-add: supplementary groups, names or numbers
	IPC           string   // --ipc: "", private or host
	PID           string   // --pid: "", private, host or container:NAME
	Pod           string   // the ID of the pod it joins (package pod fills the joins)
	PodInfra      bool     // it holds Pod's namespaces (hold.go)
	InfraPID      bool     // with PodInfra: the members join its pid namespace, whose pid 1 is tug's pause
}

// timeZone is the bind that --tz makes: the host's zoneinfo file of tz
// (or the host's own /etc/localtime for "local") on /etc/localtime.
func timeZone(tz string) ([]Mount, error) {
	if tz == "" {
		return nil, nil
	}
	src := "/etc/localtime"
	if tz != "local" {
		src = filepath.Join("/usr/share/zoneinfo", tz)
		if !filepath.IsLocal(tz) {
			return nil, fmt.Errorf("--tz %q: not a time zone name", tz)
		}
	}
	if fi, err := os.Stat(src); err != nil || !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("--tz %q: unknown time zone (no %s here)", tz, src)
	}
	return []Mount{{Source: src, Destination: "/etc/localtime", ReadOnly: true}}, nil
}

// RestartPolicy says when the monitor starts a container again.
type RestartPolicy struct {
	Name       string `json:"name"` // no, on-failure, always, unless-stopped
	MaxRetries int    `json:"max_retries,omitempty"`
}

// ParseRestart parses --restart as docker does.
func ParseRestart(s string) (RestartPolicy, error) {
	name, count, hasCount := strings.Cut(s, ":")
	p := RestartPolicy{Name: name}
	switch name {
	case "", "no":
		p.Name = "no"
	case "always", "unless-stopped":
	case "on-failure":
		if hasCount {
			n, err := strconv.Atoi(count)
			if err != nil || n < 0 {
				return p, fmt.Errorf("--restart %s: the retry count must be a whole number", s)
			}
			p.MaxRetries = n
		}
		return p, nil
	default:
		return p, fmt.Errorf("--restart %q: want no, on-failure[:N], always or unless-stopped", s)
	}
	if hasCount {
		return p, fmt.Errorf("--restart %s: only on-failure takes a retry count", s)
	}
	return p, nil
}

// again tells whether the monitor restarts a container that exited with
// code after restarts restarts, unless someone asked it to stop.
func (p RestartPolicy) again(code, restarts int, stopRequested bool) bool {
	if stopRequested {
		return false
	}
	switch p.Name {
	case "always", "unless-stopped":
		return true
	case "on-failure":
		return code != 0 && (p.MaxRetries == 0 || restarts < p.MaxRetries)
	}
	return false
}

// parseLogOpts reads --log-opt max-size=SIZE (512k, 10m, 1g), and
// docker's labels=L1,L2, labels-regex=RE, env=E1,E2 and env-regex=RE,
// the labels and environment variables logs --details shows beside each
// line (logAttrs). It returns the size and the other options.
func parseLogOpts(opts []string) (int64, map[string]string, error) {
	var max int64
	var attrs map[string]string
	for _, o := range opts {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "max-size":
			n, err := units.RAMInBytes(v)
			if err != nil || n <= 0 {
				return 0, nil, fmt.Errorf("--log-opt %s: invalid size (want e.g. 512k, 10m, 1g)", o)
			}
			max = n
			continue
		case "labels-regex", "env-regex":
			if _, err := regexp.Compile(v); err != nil {
				return 0, nil, fmt.Errorf("--log-opt %s: %w", o, err)
			}
		case "labels", "env":
		default:
			return 0, nil, fmt.Errorf("--log-opt %s: want max-size, labels, labels-regex, env or env-regex", o)
		}
		if attrs == nil {
			attrs = map[string]string{}
		}
		attrs[k] = v
	}
	return max, attrs, nil
}

// logAttrs are the details logs --details shows, as docker's json-file
// takes them: the labels and environment variables that opts (as
// parseLogOpts keeps them) name or match, by name.
func logAttrs(opts map[string]string, labels map[string]string, env []string) map[string]string {
	out := map[string]string{}
	pick := func(names, re string, get func(string) (string, bool), all func(func(k, v string))) {
		for _, n := range strings.Split(names, ",") {
			if v, ok := get(n); ok && n != "" {
				out[n] = v
			}
		}
		if m, err := regexp.Compile(re); err == nil && re != "" {
			all(func(k, v string) {
				if m.MatchString(k) {
					out[k] = v
				}
			})
		}
	}
	pick(opts["labels"], opts["labels-regex"], func(n string) (string, bool) { v, ok := labels[n]; return v, ok },
		func(f func(k, v string)) {
			for k, v := range labels {
				f(k, v)
			}
		})
	envMap := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		envMap[k] = v
	}
	pick(opts["env"], opts["env-regex"], func(n string) (string, bool) { v, ok := envMap[n]; return v, ok },
		func(f func(k, v string)) {
			for k, v := range envMap {
				f(k, v)
			}
		})
	return out
}

// ParseLabels reads --label K=V (or K, with an empty value).
func ParseLabels(ls []string) (map[string]string, error) {
	if len(ls) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, l := range ls {
		k, v, _ := strings.Cut(l, "=")
		if k == "" {
			return nil, fmt.Errorf("--label %q: no key", l)
		}
		out[k] = v
	}
	return out, nil
}

// DefaultPath is the PATH a container gets when its image sets none.
const DefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// command combines entrypoint and cmd as docker does: a new entrypoint
// drops the image's Cmd, and arguments replace Cmd.
func command(img v1.Config, opt Options) ([]string, error) {
	entry, cmd := img.Entrypoint, img.Cmd
	if opt.EntrypointSet {
		entry, cmd = nil, nil
		if len(opt.Entrypoint) > 0 && opt.Entrypoint[0] != "" {
			entry = opt.Entrypoint
		}
	}
	if len(opt.Cmd) > 0 {
		cmd = opt.Cmd
	}
	args := append(append([]string{}, entry...), cmd...)
	if len(args) == 0 {
		return nil, fmt.Errorf("no command specified: the image has no Cmd or Entrypoint")
	}
	return args, nil
}

// environment is the image's env, then --env-file, then -e, plus a default
// PATH, HOSTNAME and, with a tty, TERM=xterm. Later settings win.
func environment(img v1.Config, opt Options, hostname string, getenv func(string) (string, bool)) ([]string, error) {
	var env []string
	set := func(kv string) {
		k, _, _ := strings.Cut(kv, "=")
		for i, old := range env {
			if ok, _, _ := strings.Cut(old, "="); ok == k {
				env[i] = kv
				return
			}
		}
		env = append(env, kv)
	}
	set(DefaultPath)
	set("HOSTNAME=" + hostname)
	if opt.Tty {
		set("TERM=xterm")
	}
	for _, kv := range img.Env {
		set(kv)
	}
	if opt.EnvHost {
		for _, kv := range os.Environ() {
			set(kv)
		}
	}
	for _, f := range opt.EnvFiles {
		lines, err := readEnvFile(f)
		if err != nil {
			return nil, err
		}
		opt.Env = append(lines, opt.Env...)
	}
	for _, kv := range opt.Env {
		k, _, hasValue := strings.Cut(kv, "=")
		if k == "" {
			return nil, fmt.Errorf("-e %q: no variable name", kv)
		}
		if !hasValue {
			v, ok := getenv(k)
			if !ok {
				continue
			}
			kv = k + "=" + v
		}
		set(kv)
	}
	return env, nil
}

// readEnvFile reads K=V lines; blank lines and # comments are skipped,
// and a bare K takes its value from tug's environment, as in docker.
func readEnvFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--env-file: %s", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimLeft(sc.Text(), " \t")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, line)
	}
	return out, sc.Err()
}

// binds parses -v and --mount into bind mounts. -v makes a missing host
// dir; --mount refuses a missing source; both refuse relative paths.
func binds(opt Options) ([]Mount, error) {
	var out []Mount
	for _, v := range opt.Volumes {
		m, err := parseVolume(v)
		if err != nil {
			return nil, err
		}
		if m.Source == "" {
			out = append(out, m) // a volume: create resolves it
			continue
		}
		if _, err := os.Stat(m.Source); os.IsNotExist(err) {
			if err := os.MkdirAll(m.Source, 0o755); err != nil {
				return nil, fmt.Errorf("-v %s: create host dir: %w", v, err)
			}
		}
		out = append(out, m)
	}
	for _, s := range opt.Mounts {
		if _, isTmpfs, err := tmpfsMount(s); err != nil || isTmpfs {
			if err != nil {
				return nil, err
			}
			continue // with --tmpfs
		}
		m, err := parseMount(s)
		if err != nil {
			return nil, err
		}
		if m.Source == "" {
			out = append(out, m) // a volume: create resolves it
			continue
		}
		if _, err := os.Stat(m.Source); err != nil {
			return nil, fmt.Errorf("--mount %s: bind source path does not exist: %s", s, m.Source)
		}
		out = append(out, m)
	}
	return out, nil
}

// parseVolume reads -v: HOST:CONTAINER[:OPTIONS] binds a host path,
// NAME:CONTAINER[:OPTIONS] mounts the named volume NAME and CONTAINER
// alone a new anonymous volume (Source is "" for both, and Volume the
// name, "" for an anonymous one, until create resolves them). OPTIONS
// is a comma list of ro, rw, z, Z and, for volumes, nocopy.
func parseVolume(v string) (Mount, error) {
	parts := strings.Split(v, ":")
	if len(parts) > 3 || parts[0] == "" {
		return Mount{}, fmt.Errorf("-v %s: want HOST:CONTAINER[:OPTIONS], VOLUME:CONTAINER[:OPTIONS] or CONTAINER (ro, rw, z, Z, nocopy)", v)
	}
	if len(parts) == 1 {
		m := Mount{Destination: parts[0]}
		return m, checkDestination("-v "+v, m)
	}
	m := Mount{Source: parts[0], Destination: parts[1]}
	volume := !strings.HasPrefix(parts[0], "/") && !strings.HasPrefix(parts[0], ".")
	if volume {
		m.Source, m.Volume = "", parts[0]
	}
	if len(parts) == 3 {
		for _, o := range strings.Split(parts[2], ",") {
			switch {
			case o == "ro":
				m.ReadOnly = true
			case o == "rw":
			case o == "z", o == "Z":
				// SELinux relabelling (shared, private): tug runs no SELinux
				// policy, so there is nothing to relabel
			case o == "nocopy" && volume:
				m.NoCopy = true
			default:
				return Mount{}, fmt.Errorf("-v %s: unknown option %q (want ro, rw, z, Z, nocopy)", v, o)
			}
		}
	}
	if volume {
		return m, checkDestination("-v "+v, m)
	}
	return m, checkBind("-v "+v, m)
}

// parseMount reads --mount: type=bind,src=HOST,dst=PATH[,readonly] or
// type=volume[,src=NAME],dst=PATH[,readonly][,volume-nocopy] (no src: an
// anonymous volume). type=tmpfs is tmpfsMount's.
func parseMount(s string) (Mount, error) {
	var m Mount
	typ := ""
	fields, err := mountFields(s)
	if err != nil {
		return Mount{}, err
	}
	for _, kv := range fields {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "type":
			typ = v
		case "source", "src":
			m.Source = v
		case "destination", "dst", "target":
			m.Destination = v
		case "readonly", "ro":
			m.ReadOnly = v == "" || v == "true" || v == "1"
		case "volume-nocopy":
			m.NoCopy = v == "" || v == "true" || v == "1"
		case "volume-driver":
			if v != "local" {
				return Mount{}, fmt.Errorf("--mount %s: volume-driver %q: tug has the local driver only", s, v)
			}
		case "volume-opt":
			m.VolumeOptions = addKeyValue(m.VolumeOptions, v)
		case "volume-label":
			m.VolumeLabels = addKeyValue(m.VolumeLabels, v)
		default:
			return Mount{}, fmt.Errorf("--mount %s: unknown key %q", s, k)
		}
	}
	switch typ {
	case "bind":
		return m, checkBind("--mount "+s, m)
	case "volume":
		m.Source, m.Volume = "", m.Source
		return m, checkDestination("--mount "+s, m)
	}
	return Mount{}, fmt.Errorf("--mount %s: want type=bind, volume or tmpfs", s)
}

// mountFields splits --mount's value as docker does: a CSV line, so a
// field with commas in it is quoted ("volume-opt=o=size=1m,uid=1000").
func mountFields(s string) ([]string, error) {
	r := csv.NewReader(strings.NewReader(s))
	fields, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("--mount %s: %w", s, err)
	}
	return fields, nil
}

// addKeyValue adds K=V (K alone: an empty value) to m, made if nil.
func addKeyValue(m map[string]string, kv string) map[string]string {
	if m == nil {
		m = map[string]string{}
	}
	k, v, _ := strings.Cut(kv, "=")
	m[k] = v
	return m
}

// tmpfsMount turns --mount type=tmpfs,dst=PATH[,tmpfs-size=N][,tmpfs-mode=M]
// into --tmpfs's PATH:OPTIONS; ok is false for other types.
func tmpfsMount(s string) (spec string, ok bool, err error) {
	var dst string
	var opts []string
	fields, err := mountFields(s)
	if err != nil {
		return "", false, err
	}
	for _, kv := range fields {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "type":
			if v != "tmpfs" {
				return "", false, nil
			}
			ok = true
		case "destination", "dst", "target":
			dst = v
		case "tmpfs-size":
			opts = append(opts, "size="+v)
		case "tmpfs-mode":
			opts = append(opts, "mode="+v)
		default:
			return "", false, fmt.Errorf("--mount %s: unknown key %q", s, k)
		}
	}
	if !ok {
		return "", false, nil
	}
	return dst + ":" + strings.Join(opts, ","), true, nil
}

func checkBind(flag string, m Mount) error {
	if !filepath.IsAbs(m.Source) {
		return fmt.Errorf("%s: host path %q is not absolute", flag, m.Source)
	}
	return checkDestination(flag, m)
}

// checkDestination refuses a container path that is relative, or /.
func checkDestination(flag string, m Mount) error {
	if !filepath.IsAbs(m.Destination) || filepath.Clean(m.Destination) == "/" {
		return fmt.Errorf("%s: container path %q must be absolute and not /", flag, m.Destination)
	}
	return nil
}

// Limits are the resource flags as typed: sizes as docker takes them
// (512m, 1g), --cpus as a decimal.
type Limits struct {
	Memory, MemoryReservation, MemorySwap string
	Cpus                                  string
	CPUShares                             int64
	CpusetCpus, CpusetMems                string
	PidsLimit                             int64
	BlkioWeight                           int64
	DeviceReadBps, DeviceWriteBps         []string // PATH:RATE
}

// resources checks limits and turns them into cgroup values.
func resources(l Limits) (cgroups.Resources, error) {
	var r cgroups.Resources
	var err error
	size := func(flag, v string) int64 {
		if v == "" || err != nil {
			return 0
		}
		if v == "-1" {
			return -1
		}
		n, perr := units.RAMInBytes(v)
		if perr != nil || n <= 0 {
			err = fmt.Errorf("%s %q: invalid size (want e.g. 512m or 1g)", flag, v)
		}
		return n
	}
	r.Memory = size("--memory", l.Memory)
	r.MemoryReservation = size("--memory-reservation", l.MemoryReservation)
	r.MemorySwap = size("--memory-swap", l.MemorySwap)
	if err != nil {
		return r, err
	}
	if r.Memory > 0 && r.Memory < 6<<20 {
		return r, fmt.Errorf("--memory %s: the minimum is 6m", l.Memory)
	}
	if r.MemorySwap > 0 && r.MemorySwap < r.Memory {
		return r, fmt.Errorf("--memory-swap %s must be at least --memory %s", l.MemorySwap, l.Memory)
	}
	if r.MemorySwap != 0 && r.Memory == 0 {
		return r, fmt.Errorf("--memory-swap needs --memory")
	}
	if l.Cpus != "" {
		cpus, perr := strconv.ParseFloat(l.Cpus, 64)
		if perr != nil || cpus <= 0 || cpus > float64(runtime.NumCPU()) {
			return r, fmt.Errorf("--cpus %q: want a number above 0 and at most %d (the CPUs here)", l.Cpus, runtime.NumCPU())
		}
		r.CPUPeriod, r.CPUQuota = 100000, int64(cpus*100000)
	}
	if l.CPUShares < 0 || l.CPUShares == 1 || l.CPUShares > 262144 {
		return r, fmt.Errorf("--cpu-shares %d: want 2 to 262144", l.CPUShares)
	}
	r.CPUShares = uint64(l.CPUShares)
	r.CpusetCpus, r.CpusetMems = l.CpusetCpus, l.CpusetMems
	r.PidsLimit = l.PidsLimit
	if l.BlkioWeight != 0 && (l.BlkioWeight < 10 || l.BlkioWeight > 1000) {
		return r, fmt.Errorf("--blkio-weight %d: want 10 to 1000", l.BlkioWeight)
	}
	r.BlkioWeight = uint16(l.BlkioWeight)
	if r.DeviceReadBps, err = rates("--device-read-bps", l.DeviceReadBps); err != nil {
		return r, err
	}
	r.DeviceWriteBps, err = rates("--device-write-bps", l.DeviceWriteBps)
	return r, err
}

// rates parses PATH:RATE device limits.
func rates(flag string, vs []string) ([]cgroups.Rate, error) {
	var out []cgroups.Rate
	for _, v := range vs {
		dev, rate, ok := strings.Cut(v, ":")
		if !ok {
			return nil, fmt.Errorf("%s %q: want DEVICE_PATH:RATE", flag, v)
		}
		var st unix.Stat_t
		if err := unix.Stat(dev, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFBLK {
			return nil, fmt.Errorf("%s %q: %s is not a block device", flag, v, dev)
		}
		n, err := units.RAMInBytes(rate)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%s %q: invalid rate", flag, v)
		}
		out = append(out, cgroups.Rate{Major: unix.Major(st.Rdev), Minor: unix.Minor(st.Rdev), Bytes: uint64(n)})
	}
	return out, nil
}
