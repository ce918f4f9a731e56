package run

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	stdnet "net"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"tug/internal/phase"
	tugnet "tug/net"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"tug/run/cgroups"
	"tug/run/childspec"
	"tug/run/health"
	"tug/store"
)

// Config is what run keeps in a container's record.
type Config struct {
	Spec           Spec                `json:"spec"`
	AutoRemove     bool                `json:"auto_remove"`
	Interactive    bool                `json:"interactive"`
	Network        string              `json:"network"`
	Ports          []tugnet.Port       `json:"ports,omitempty"`
	Subnet         string              `json:"subnet,omitempty"`
	IP             string              `json:"ip,omitempty"`          // --ip
	MacAddress     string              `json:"mac_address,omitempty"` // --mac-address
	IPC            string              `json:"ipc,omitempty"`         // --ipc past host: "", shareable, none or container:ID (ipc.go)
	UTS            string              `json:"uts,omitempty"`         // --uts container:ID (join.go)
	PID            string              `json:"pid,omitempty"`         // --pid container:ID
	Aliases        []string            `json:"aliases,omitempty"`
	Connected      []string            `json:"connected,omitempty"`       // networks added with network connect
	ConnectIPs     map[string]string   `json:"connect_ips,omitempty"`     // their --ip, by network
	ConnectAliases map[string][]string `json:"connect_aliases,omitempty"` // their --alias, by network
	StopSignal     string              `json:"stop_signal,omitempty"`     // --stop-signal, the image's, or SIGTERM
	StopTimeout    *int                `json:"stop_timeout,omitempty"`    // --stop-timeout: seconds; nil for 10
	Annotations    map[string]string   `json:"annotations,omitempty"`
	Restart        RestartPolicy       `json:"restart"`
	LogMaxSize     int64               `json:"log_max_size,omitempty"` // bytes; 0 never rotates
	LogOpts        map[string]string   `json:"log_opts,omitempty"`     // the rest of --log-opt: what logs --details shows
	LogDriver      string              `json:"log_driver,omitempty"`   // "" is k8s-file
	Timeout        int                 `json:"timeout,omitempty"`      // seconds it may run; 0 for ever
	PreserveFDs    int                 `json:"preserve_fds,omitempty"` // tug's fds 3… it gets, in the foreground
	Resources      cgroups.Resources   `json:"resources"`
	CgroupManager  string              `json:"cgroup_manager,omitempty"` // systemd, or "" for cgroupfs
	Health         *health.Check       `json:"health,omitempty"`         // nil: no healthcheck
	// SeccompRef names the compiled seccomp filter in the store
	// (Store.Seccomp); the record's Spec.Seccomp is then empty, and
	// withSeccomp fills it in for a start or an exec. Records made
	// before it hold the filter in Spec.Seccomp itself.
	SeccompRef string `json:"seccomp_ref,omitempty"`
	// ConsoleSize is Options.ConsoleSize, nil for none.
	ConsoleSize *[2]uint16 `json:"console_size,omitempty"`
	// Held is a pod's infra container that its monitor holds: no
	// process runs in it (hold.go). An infra container whose pid
	// namespace the members share has tug's pause as pid 1 instead
	// (Spec.Pause).
	Held bool `json:"held,omitempty"`
}

// ContainerConfig decodes the run config of a container record.
func ContainerConfig(c *store.Container) (*Config, error) {
	var cfg Config
	if err := json.Unmarshal(c.Spec, &cfg); err != nil {
		return nil, fmt.Errorf("container %s: corrupt config: %w", c.ID[:12], err)
	}
	return &cfg, nil
}

// withSeccomp fills in cfg's seccomp filter from the store, where the
// record names it.
func (cfg *Config) withSeccomp(s *store.Store) error {
	if cfg.SeccompRef == "" || len(cfg.Spec.Seccomp) > 0 {
		return nil
	}
	raw, err := s.Seccomp(cfg.SeccompRef)
	if err == nil {
		cfg.Spec.Seccomp, err = childspec.ParseBPF(raw)
	}
	if err != nil {
		return fmt.Errorf("seccomp filter: %w", err)
	}
	return nil
}

// rootlessLimits says why a rootless container's limits do nothing.
const rootlessLimits = "resource limits are not enforced for rootless containers without systemd's delegation (see tug doctor)"

// Create records a new container from img with opt, ready to start.
func Create(s *store.Store, img *store.Image, imageName string, opt Options) (*store.Container, error) {
	ic, err := s.Config(img)
	if err != nil {
		return nil, err
	}
	ports, err := networkOptions(s, &opt, ic.Config)
	if err != nil {
		return nil, err
	}
	id, err := store.NewContainerID()
	if err != nil {
		return nil, err
	}
	args, err := command(ic.Config, opt)
	if err != nil {
		return nil, err
	}
	uts, pid, err := hostNamespaces(s, opt)
	if err != nil {
		return nil, err
	}
	hostUTS, hostPID := uts.host, pid.host
	ipc, hostIPC, err := ipcMode(s, opt.IPC)
	if err != nil {
		return nil, err
	}
	if err := oneOwner(s, opt.Network, ipc, uts.container, pid.container); err != nil {
		return nil, err
	}
	if opt.NoHosts && len(opt.AddHosts) > 0 {
		return nil, errors.New("--no-hosts and --add-host conflict: there is no /etc/hosts of tug's to add to")
	}
	hostname, err := utsHostname(s, opt.Hostname, uts)
	if err != nil {
		return nil, err
	}
	switch {
	case hostUTS && hostname != "":
		return nil, errors.New("conflicting options: --hostname and --uts host")
	case hostUTS:
		if hostname, err = os.Hostname(); err != nil {
			return nil, err
		}
	case hostname == "":
		hostname = id[:12]
	}
	env, err := environment(ic.Config, opt, hostname, os.LookupEnv)
	if err != nil {
		return nil, err
	}
	keep, err := keepID(s, opt.UserNS)
	if err != nil {
		return nil, err
	}
	driver, err := StorageDriver(s, opt.StorageDriver, opt.ForceDriver)
	if keep != nil {
		driver, err = DriverFuse, keepIDDriver(opt)
	}
	if err != nil {
		return nil, err
	}
	if driver == DriverOverlay {
		driver = "" // what every container had before there was a choice
	}
	mounts, err := binds(opt)
	if err != nil {
		return nil, err
	}
	for _, m := range opt.Mounts {
		if t, isTmpfs, _ := tmpfsMount(m); isTmpfs {
			opt.Security.MountTmpfs = append(opt.Security.MountTmpfs, t)
		}
	}
	from, err := volumesFrom(s, opt.VolumesFrom)
	if err != nil {
		return nil, err
	}
	mounts = append(append(mounts, from...), imageVolumes(ic.Config.Volumes, mounts)...)
	vols, err := volumeMounts(s, mounts)
	if err != nil {
		return nil, err
	}
	// a monitor's thread holds namespaces it can unshare by itself: not
	// a pid namespace (that takes a process), nor a user namespace
	held := opt.PodInfra && !opt.InfraPID && keep == nil
	spec := Spec{
		Args: args, Env: env, Cwd: cmp.Or(opt.Workdir, ic.Config.WorkingDir, "/"),
		User: cmp.Or(opt.User, ic.Config.User), Hostname: hostname,
		Tty: opt.Tty, Init: opt.Init, ReadOnly: opt.ReadOnly, Mounts: mounts, HostNetwork: opt.Network == "host", Driver: driver,
		DNS: opt.DNS, DNSSearch: opt.DNSSearch, DNSOptions: opt.DNSOptions, ExtraHosts: opt.AddHosts,
		EmbeddedDNS: userNetwork(opt.Network), HostUTS: hostUTS, HostIPC: hostIPC, HostPID: hostPID, NoShm: ipc == ipcNone, NoHosts: opt.NoHosts, GroupAdd: opt.GroupAdd,
		MaskedPaths: childspec.DefaultMaskedPaths(), ReadonlyPaths: childspec.DefaultReadonlyPaths(), KeepID: keep,
		Pause: opt.PodInfra && !held,
	}
	spec.Init = spec.Init || spec.Pause
	if keep != nil && opt.User == "" {
		spec.User = fmt.Sprintf("%d:%d", keep.UID, keep.GID) // podman's: the user, not the image's USER
	}
	if !filepath.IsAbs(spec.Cwd) {
		return nil, fmt.Errorf("working directory %q is not absolute", spec.Cwd)
	}
	if opt.Umask != "" {
		m, err := strconv.ParseUint(opt.Umask, 8, 32)
		if err != nil || m > 0o777 {
			return nil, fmt.Errorf("--umask %q: want an octal mask, 0000 to 0777", opt.Umask)
		}
		mask := uint32(m)
		spec.Umask = &mask
	}
	stopSignal := cmp.Or(opt.StopSignal, ic.Config.StopSignal, "SIGTERM")
	if _, err := ParseSignal(stopSignal); err != nil {
		return nil, fmt.Errorf("stop signal %q: %w", stopSignal, err)
	}
	if opt.StopTimeout != nil && *opt.StopTimeout < 0 {
		return nil, fmt.Errorf("--stop-timeout %d: want seconds, 0 or more", *opt.StopTimeout)
	}
	annotations, err := ParseLabels(opt.Annotations)
	if err != nil {
		return nil, fmt.Errorf("--annotation: %w", err)
	}
	restart, err := ParseRestart(opt.Restart)
	if err != nil {
		return nil, err
	}
	if restart.Name != "no" && opt.AutoRemove {
		return nil, fmt.Errorf("--restart %s and --rm cannot go together", opt.Restart)
	}
	logMax, logOpts, err := parseLogOpts(opt.LogOpts)
	if err != nil {
		return nil, err
	}
	logDriver, err := parseLogDriver(opt.LogDriver, opt.Tty)
	if err != nil {
		return nil, err
	}
	if opt.PreserveFDs < 0 || opt.PreserveFDs > 1000 {
		return nil, fmt.Errorf("--preserve-fds %d: want 0 to 1000", opt.PreserveFDs)
	}
	if opt.Timeout < 0 {
		return nil, fmt.Errorf("--timeout %d: want seconds, 0 for no limit", opt.Timeout)
	}
	tz, err := timeZone(opt.TZ)
	if err != nil {
		return nil, err
	}
	spec.Mounts = append(spec.Mounts, tz...)
	labels, err := ParseLabels(opt.Labels)
	if err != nil {
		return nil, err
	}
	check, err := health.Resolve(ic.Config.Healthcheck, opt.Health)
	if err != nil {
		return nil, err
	}
	res, err := resources(opt.Limits)
	if err != nil {
		return nil, err
	}
	manager, err := CgroupManager(s, opt.CgroupManager)
	if err != nil {
		return nil, err
	}
	if why := unenforced(s, manager, res); why != "" {
		if opt.StrictLimits {
			return nil, fmt.Errorf("%s; [rootless] strict_limits is set", why)
		}
		fmt.Fprintln(os.Stderr, "tug: warning: "+why)
	}
	if manager == ManagerCgroupfs {
		manager = "" // what every container had before there was a choice
	}
	if err := applySecurity(&spec, &res, opt.Security, filepath.Join(s.Root(), "cache")); err != nil {
		return nil, err
	}
	_, joinsIPC := strings.CutPrefix(ipc, "container:")
	if err := hostSysctls(&spec, joinsIPC); err != nil {
		return nil, err
	}
	if hostIPC {
		spec.Mounts = append(spec.Mounts, Mount{Source: "/dev/shm", Destination: "/dev/shm"}) // docker's: the host's
	}
	var seccompRef string
	if len(spec.Seccomp) > 0 {
		if seccompRef, err = s.PutSeccomp(spec.Seccomp.Bytes()); err != nil {
			return nil, err
		}
		spec.Seccomp = nil
	}
	var consoleSize *[2]uint16
	if opt.ConsoleSize[0] > 0 && opt.ConsoleSize[1] > 0 {
		consoleSize = &opt.ConsoleSize
	}
	raw, err := json.Marshal(Config{
		Spec: spec, SeccompRef: seccompRef, ConsoleSize: consoleSize, AutoRemove: opt.AutoRemove, Interactive: opt.Interactive, Network: opt.Network, Ports: ports, Subnet: opt.Subnet, IP: opt.IP, MacAddress: opt.MacAddress, Aliases: opt.Aliases,
		StopSignal: stopSignal, StopTimeout: opt.StopTimeout, Annotations: annotations, Restart: restart, LogMaxSize: logMax, LogOpts: logOpts, LogDriver: logDriver,
		Timeout: opt.Timeout, PreserveFDs: opt.PreserveFDs, Resources: res, Health: check, IPC: ipc, CgroupManager: manager,
		UTS: uts.container, PID: pid.container, Held: held,
	})
	if err != nil {
		return nil, err
	}
	c := &store.Container{ID: id, Name: opt.Name, Image: img.ID, ImageName: imageName, Created: time.Now().UTC(), Labels: labels, Pod: opt.Pod, Spec: raw}
	for _, v := range vols {
		c.Volumes = append(c.Volumes, v.Name)
	}
	if c.Name == "" {
		c, err = createWithRandomName(s, c, vols)
	} else {
		err = s.CreateContainerWith(c, vols)
	}
	if err != nil {
		return c, err
	}
	emit(s, c, "create", nil)
	if err := copyUp(s, c, mounts, vols); err != nil {
		Remove(s, c, true)
		removeAnonymous(s, c)
		return nil, err
	}
	phases := phase.Open("tug") // make bench's breakdown of a start
	phases.Mark("created")
	phases.Close()
	return c, nil
}

// volumesFrom are the mounts of the containers --volumes-from names,
// their volumes and binds, read-only with :ro (each keeps its own mode
// with :rw, the default), as docker has them.
func volumesFrom(s *store.Store, refs []string) ([]Mount, error) {
	var out []Mount
	for _, r := range refs {
		ref, mode, _ := strings.Cut(r, ":")
		if mode != "" && mode != "ro" && mode != "rw" {
			return nil, fmt.Errorf("--volumes-from %s: want CONTAINER[:ro|rw]", r)
		}
		c, err := s.LookupContainer(ref)
		if err != nil {
			return nil, fmt.Errorf("--volumes-from %s: %w", r, err)
		}
		cfg, err := ContainerConfig(c)
		if err != nil {
			return nil, err
		}
		for _, m := range cfg.Spec.Mounts {
			m.ReadOnly = m.ReadOnly || mode == "ro"
			m.NoCopy = true // its content is the other container's
			out = append(out, m)
		}
	}
	return out, nil
}

// imageVolumes are anonymous volumes for the image's VOLUME paths that
// no mount covers already, as docker makes them.
func imageVolumes(paths map[string]struct{}, mounts []Mount) []Mount {
	var out []Mount
	for _, p := range slices.Sorted(maps.Keys(paths)) {
		covered := slices.ContainsFunc(mounts, func(m Mount) bool { return filepath.Clean(m.Destination) == filepath.Clean(p) })
		if !covered && filepath.IsAbs(p) && filepath.Clean(p) != "/" {
			out = append(out, Mount{Destination: filepath.Clean(p)})
		}
	}
	return out
}

// volumeMounts resolves the volumes among mounts to their data dirs: a
// named one (made on first use, when the container is recorded) or a
// new anonymous one, and returns them.
func volumeMounts(s *store.Store, mounts []Mount) ([]*store.Volume, error) {
	var vols []*store.Volume
	for i, m := range mounts {
		if m.Volume != "" && m.Source != "" { // --volumes-from: the other container's volume
			vols = append(vols, &store.Volume{Name: m.Volume})
			continue
		}
		if m.Source != "" {
			continue
		}
		v := &store.Volume{Name: m.Volume, Options: m.VolumeOptions, Labels: m.VolumeLabels}
		if v.Name == "" {
			name, err := store.NewContainerID() // 64 hex digits, as docker's anonymous volumes
			if err != nil {
				return nil, err
			}
			v.Name, v.Anonymous = name, true
		}
		mounts[i].Source, mounts[i].Volume = s.VolumeData(v.Name), v.Name
		vols = append(vols, v)
	}
	return vols, nil
}

// createWithRandomName retries generated names until one is free.
func createWithRandomName(s *store.Store, c *store.Container, vols []*store.Volume) (*store.Container, error) {
	for try := 0; ; try++ {
		c.Name = RandomName()
		if try > 10 {
			c.Name += "_" + c.ID[:6]
		}
		err := s.CreateContainerWith(c, vols)
		if !errors.Is(err, store.ErrNameInUse) || try > 20 {
			return c, err
		}
	}
}

// prepare fills in the parts of the spec that depend on where the store
// is: the overlay's dirs and the generated /etc files.
func prepare(s *store.Store, c *store.Container, cfg *Config, spec *Spec) error {
	if err := overlayPaths(s, c, spec); err != nil {
		return err
	}
	dir := s.ContainerDir(c.ID)
	if owner, ok := sharedNetwork(cfg); ok { // the owner's very files
		for _, name := range []string{"hostname", "hosts", "resolv.conf"} {
			if name == "hosts" && spec.NoHosts {
				continue
			}
			p := filepath.Join(s.ContainerDir(owner), name)
			spec.Mounts = append([]Mount{{Source: p, Destination: "/etc/" + name}}, spec.Mounts...)
		}
		return nil
	}
	files := map[string]string{
		"/etc/hostname":      spec.Hostname + "\n",
		"/etc/hosts":         hostsFile(spec, ""),
		"/etc/resolv.conf":   resolvConf(spec),
		"/run/.containerenv": containerEnv(s, c),
	}
	if spec.HostNetwork { // the host's own, as docker has them
		hosts, _ := os.ReadFile("/etc/hosts")
		resolv, _ := os.ReadFile("/etc/resolv.conf")
		files["/etc/hosts"], files["/etc/resolv.conf"] = string(hosts), string(resolv)
	}
	if spec.NoHosts {
		delete(files, "/etc/hosts")
	}
	for dst, content := range files {
		p := filepath.Join(dir, strings.TrimPrefix(path.Base(dst), "."))
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return fmt.Errorf("prepare container: %w", err)
		}
		spec.Mounts = append([]Mount{{Source: p, Destination: dst}}, spec.Mounts...)
	}
	return nil
}

// containerEnv is /run/.containerenv, which podman's users and tools
// read to tell that they run in a container, and which.
func containerEnv(s *store.Store, c *store.Container) string {
	rootless := 0
	if s.Rootless() {
		rootless = 1
	}
	return fmt.Sprintf("engine=\"tug\"\nname=%q\nid=%q\nimage=%q\nimageid=%q\nrootless=%d\n",
		c.Name, c.ID, c.ImageName, c.Image.Hex, rootless)
}

// networkOptions checks the network flags and returns the ports to
// publish, -P's included.
func networkOptions(s *store.Store, opt *Options, img v1.Config) ([]tugnet.Port, error) {
	ports, err := tugnet.ParsePorts(opt.Publish)
	if err != nil {
		return nil, err
	}
	switch opt.Network {
	case "none", "host":
		if len(ports) > 0 || opt.PublishAll {
			return nil, fmt.Errorf("-p: ports cannot be published with --network %s", opt.Network)
		}
		n, err := tugnet.Default(opt.Subnet)
		if err != nil {
			return nil, err
		}
		return ports, checkAddresses(*opt, n)
	case "":
		opt.Network = "bridge"
	}
	if ref, ok := strings.CutPrefix(opt.Network, "container:"); ok {
		if ref == "" {
			return nil, fmt.Errorf("--network container: needs a container's name or ID")
		}
		return nil, shareNetwork(s, opt, ref)
	}
	if s.Rootless() {
		return userModeOptions(opt, ports, img)
	}
	r, err := tugnet.Lookup(s, opt.Network, opt.Subnet)
	if err != nil {
		return nil, fmt.Errorf("--network %s: %w (see tug network ls)", opt.Network, err)
	}
	if len(opt.Aliases) > 0 && r.Name == tugnet.DefaultName {
		return nil, fmt.Errorf("--network-alias: only user-defined networks resolve names")
	}
	if opt.PublishAll {
		ports = append(ports, exposed(img)...)
	}
	return ports, checkAddresses(*opt, r.Network)
}

// userModeOptions resolves the network of a rootless container that is
// not none, host or another's: a user-mode stack, with no bridge
// addresses to pick.
func userModeOptions(opt *Options, ports []tugnet.Port, img v1.Config) ([]tugnet.Port, error) {
	stack, err := tugnet.UserModeStack(opt.Network)
	if err != nil {
		return nil, err
	}
	if opt.IP != "" || len(opt.Aliases) > 0 {
		return nil, fmt.Errorf("--ip and --network-alias need a bridge network, which a rootless container cannot have")
	}
	opt.Network = stack
	if opt.PublishAll {
		ports = append(ports, exposed(img)...)
	}
	n, err := tugnet.Default(opt.Subnet)
	if err != nil {
		return nil, err
	}
	return ports, checkAddresses(*opt, n)
}

// shareNetwork checks the flags of a container that joins the network
// of container ref, and points opt at it: by ID, through any chain of
// such containers to the one that owns the namespace, whose hostname the
// new container takes, as in docker.
func shareNetwork(s *store.Store, opt *Options, ref string) error {
	flag := "--network " + opt.Network
	conflicts := map[string]bool{
		"-p/-P": len(opt.Publish) > 0 || opt.PublishAll, "-h": opt.Hostname != "", "--ip": opt.IP != "",
		"--dns": len(opt.DNS) > 0, "--dns-search": len(opt.DNSSearch) > 0, "--dns-option": len(opt.DNSOptions) > 0,
		"--add-host": len(opt.AddHosts) > 0, "--network-alias": len(opt.Aliases) > 0, "--mac-address": opt.MacAddress != "",
	}
	for name, set := range conflicts {
		if set {
			return fmt.Errorf("%s: %s cannot be used: the network, its names and its ports are the other container's", flag, name)
		}
	}
	for range 16 {
		target, err := s.LookupContainer(ref)
		if err != nil {
			return fmt.Errorf("%s: %w", flag, err)
		}
		cfg, err := ContainerConfig(target)
		if err != nil {
			return err
		}
		if next, ok := strings.CutPrefix(cfg.Network, "container:"); ok {
			ref = next
			continue
		}
		opt.Network, opt.Hostname = "container:"+target.ID, cfg.Spec.Hostname
		return nil
	}
	return fmt.Errorf("%s: too many containers in a chain of --network container:", flag)
}

// SharedNetwork returns the ID of the container whose network namespace
// c joins, or "".
func SharedNetwork(c *store.Container) string {
	cfg, err := ContainerConfig(c)
	if err != nil {
		return ""
	}
	id, _ := sharedNetwork(cfg)
	return id
}

// sharedNetwork returns the ID of the container whose network namespace
// a container joins, if it joins one.
func sharedNetwork(cfg *Config) (string, bool) {
	return strings.CutPrefix(cfg.Network, "container:")
}

// bridged tells whether a container gets a veth on a bridge network.
func bridged(cfg *Config) bool { return bridgedNet(cfg.Network) }

// bridgedNet tells whether --network gives a veth on a bridge network.
func bridgedNet(network string) bool {
	return network != "none" && network != "host" && !strings.HasPrefix(network, "container:") && !tugnet.IsUserMode(network)
}

// checkDNS validates --dns, --add-host and --ip.
func checkAddresses(opt Options, n tugnet.Network) error {
	for _, d := range opt.DNS {
		if _, err := netip.ParseAddr(d); err != nil {
			return fmt.Errorf("--dns %q: not an IP address", d)
		}
	}
	for _, h := range opt.AddHosts {
		name, addr, ok := strings.Cut(h, ":")
		if _, err := netip.ParseAddr(addr); !ok || name == "" || err != nil {
			return fmt.Errorf("--add-host %q: want NAME:IP", h)
		}
	}
	if _, err := parseMAC(opt); err != nil {
		return err
	}
	if opt.IP == "" {
		return nil
	}
	ip, err := netip.ParseAddr(opt.IP)
	if err != nil || opt.Network == "none" || opt.Network == "host" || !n.Subnet.Contains(ip) || ip == n.Gateway {
		return fmt.Errorf("--ip %s: want a free address of %s on a bridge network", opt.IP, n.Subnet)
	}
	return nil
}

// parseMAC parses --mac-address: a unicast Ethernet address, for a
// network of the container's own. nil is the network's choice.
func parseMAC(opt Options) (stdnet.HardwareAddr, error) {
	if opt.MacAddress == "" {
		return nil, nil
	}
	mac, err := stdnet.ParseMAC(opt.MacAddress)
	switch {
	case err != nil || len(mac) != 6:
		return nil, fmt.Errorf("--mac-address %s: want an Ethernet address like 02:42:ac:11:00:02", opt.MacAddress)
	case mac[0]&1 != 0 || bytes.Equal(mac, make([]byte, 6)):
		return nil, fmt.Errorf("--mac-address %s: a multicast or zero address cannot be an interface's", opt.MacAddress)
	case opt.Network == "none" || opt.Network == "host":
		return nil, fmt.Errorf("--mac-address: the container has no interface of its own with --network %s", opt.Network)
	}
	return mac, nil
}

// exposed turns the image's EXPOSE ports into ports published on random
// host ports, for -P.
func exposed(c v1.Config) []tugnet.Port {
	var out []tugnet.Port
	for spec := range c.ExposedPorts {
		ps, err := tugnet.ParsePorts([]string{spec})
		if err == nil {
			out = append(out, ps...)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
	return out
}

// overlayPaths fills in the overlay's lower, upper, work and mount dirs,
// and whether it is mounted in tug's user namespace.
func overlayPaths(s *store.Store, c *store.Container, spec *Spec) error {
	spec.UserNS, spec.SingleID = s.Rootless(), s.SingleID()
	img, err := s.LookupImage(c.Image.Hex)
	if err != nil {
		return fmt.Errorf("image of container %s: %w", c.Name, err)
	}
	dir := s.ContainerDir(c.ID)
	spec.Rootfs = filepath.Join(dir, "merged")
	spec.Upper = filepath.Join(dir, "upper")
	spec.Work = filepath.Join(dir, "work")
	spec.LayerDir = filepath.Join(s.Root(), "layers")
	spec.Lower = nil
	for i := len(img.Layers) - 1; i >= 0; i-- {
		spec.Lower = append(spec.Lower, filepath.Join(img.Layers[i].Hex, "diff"))
	}
	if len(spec.Lower) == 0 {
		spec.Lower = []string{filepath.Join(dir, "empty")}
	}
	for _, d := range []string{spec.Rootfs, filepath.Join(dir, "empty")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("prepare container: %w", err)
		}
	}
	spec.Premounted = spec.Driver == "" && isMountRoot(spec.Rootfs) // tug mount's
	return nil
}

// hostsFile is a container's /etc/hosts; ip, when it has one, names it,
// and --add-host entries follow.
func hostsFile(spec *Spec, ip string) string {
	self := "127.0.1.1"
	if ip != "" {
		self = ip
	}
	var b strings.Builder
	fmt.Fprintf(&b, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n%s\t%s\n", self, spec.Hostname)
	for _, h := range spec.ExtraHosts {
		name, addr, _ := strings.Cut(h, ":")
		fmt.Fprintf(&b, "%s\t%s\n", addr, name)
	}
	return b.String()
}

// resolvConf is the container's resolv.conf: --dns, --dns-search and
// --dns-option when given; otherwise the host's, without loopback name
// servers, which mean nothing in the container's namespace. A host that
// only points at systemd-resolved's 127.0.0.53 gets its upstream servers
// instead, as docker does.
func resolvConf(spec *Spec) string {
	host := hostResolv("/etc/resolv.conf")
	if len(host.servers) == 0 {
		host = hostResolv("/run/systemd/resolve/resolv.conf")
	}
	servers, search, options := host.servers, host.search, host.options
	if spec.EmbeddedDNS {
		servers, options = []string{tugnet.DNSAddress}, []string{"ndots:0"}
	}
	if len(spec.DNS) > 0 {
		servers = spec.DNS
	}
	if len(spec.DNSSearch) > 0 {
		search = spec.DNSSearch
	}
	if len(spec.DNSOptions) > 0 {
		options = spec.DNSOptions
	}
	var b strings.Builder
	for _, ns := range servers {
		fmt.Fprintf(&b, "nameserver %s\n", ns)
	}
	if len(search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(search, " "))
	}
	if len(options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(options, " "))
	}
	return b.String()
}

// resolv is what a resolv.conf says.
type resolv struct {
	servers, search, options []string
}

// hostResolv reads a resolv.conf, leaving out loopback name servers.
func hostResolv(path string) resolv {
	var r resolv
	b, _ := os.ReadFile(path)
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "nameserver":
			if !strings.HasPrefix(f[1], "127.") && f[1] != "::1" {
				r.servers = append(r.servers, f[1])
			}
		case "search", "domain":
			r.search = f[1:]
		case "options":
			r.options = f[1:]
		}
	}
	return r
}
