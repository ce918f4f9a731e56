package run

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	tugnet "tug/net"
	"tug/run/cgroups"
	"tug/store"
)

// Config is what run keeps in a container's record.
type Config struct {
	Spec        Spec              `json:"spec"`
	AutoRemove  bool              `json:"auto_remove"`
	Interactive bool              `json:"interactive"`
	Network     string            `json:"network"`
	Ports       []tugnet.Port     `json:"ports,omitempty"`
	Subnet      string            `json:"subnet,omitempty"`
	StopSignal  string            `json:"stop_signal,omitempty"` // the image's, or SIGTERM
	Restart     RestartPolicy     `json:"restart"`
	LogMaxSize  int64             `json:"log_max_size,omitempty"` // bytes; 0 never rotates
	Resources   cgroups.Resources `json:"resources"`
}

// ContainerConfig decodes the run config of a container record.
func ContainerConfig(c *store.Container) (*Config, error) {
	var cfg Config
	if err := json.Unmarshal(c.Spec, &cfg); err != nil {
		return nil, fmt.Errorf("container %s: corrupt config: %w", c.ID[:12], err)
	}
	return &cfg, nil
}

// Create records a new container from img with opt, ready to start.
func Create(s *store.Store, img *store.Image, imageName string, opt Options) (*store.Container, error) {
	ports, err := tugnet.ParsePorts(opt.Publish)
	if err != nil {
		return nil, err
	}
	switch opt.Network {
	case "", "bridge":
		opt.Network = "bridge"
	case "none", "host":
		if len(ports) > 0 {
			return nil, fmt.Errorf("-p: ports cannot be published with --network %s", opt.Network)
		}
	default:
		return nil, fmt.Errorf("--network %s: want bridge, none or host (user-defined networks are not supported yet)", opt.Network)
	}
	if _, err := tugnet.Default(opt.Subnet); err != nil {
		return nil, err
	}
	ic, err := s.Config(img)
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
	hostname := opt.Hostname
	if hostname == "" {
		hostname = id[:12]
	}
	env, err := environment(ic.Config, opt, hostname, os.LookupEnv)
	if err != nil {
		return nil, err
	}
	mounts, err := binds(opt)
	if err != nil {
		return nil, err
	}
	spec := Spec{
		Args: args, Env: env, Cwd: firstNonEmpty(opt.Workdir, ic.Config.WorkingDir, "/"),
		User: firstNonEmpty(opt.User, ic.Config.User), Hostname: hostname,
		Tty: opt.Tty, Init: opt.Init, ReadOnly: opt.ReadOnly, Mounts: mounts, HostNetwork: opt.Network == "host",
		MaskedPaths: DefaultMaskedPaths(), ReadonlyPaths: DefaultReadonlyPaths(),
	}
	if !filepath.IsAbs(spec.Cwd) {
		return nil, fmt.Errorf("working directory %q is not absolute", spec.Cwd)
	}
	restart, err := ParseRestart(opt.Restart)
	if err != nil {
		return nil, err
	}
	if restart.Name != "no" && opt.AutoRemove {
		return nil, fmt.Errorf("--restart %s and --rm cannot go together", opt.Restart)
	}
	logMax, err := parseLogOpts(opt.LogOpts)
	if err != nil {
		return nil, err
	}
	labels, err := parseLabels(opt.Labels)
	if err != nil {
		return nil, err
	}
	res, err := resources(opt.Limits)
	if err != nil {
		return nil, err
	}
	if err := applySecurity(&spec, &res, opt.Security, filepath.Join(s.Root(), "cache")); err != nil {
		return nil, err
	}
	raw, err := json.Marshal(Config{
		Spec: spec, AutoRemove: opt.AutoRemove, Interactive: opt.Interactive, Network: opt.Network, Ports: ports, Subnet: opt.Subnet,
		StopSignal: firstNonEmpty(ic.Config.StopSignal, "SIGTERM"), Restart: restart, LogMaxSize: logMax, Resources: res,
	})
	if err != nil {
		return nil, err
	}
	c := &store.Container{ID: id, Name: opt.Name, Image: img.ID, ImageName: imageName, Created: time.Now().UTC(), Labels: labels, Spec: raw}
	if c.Name == "" {
		return createWithRandomName(s, c)
	}
	return c, s.CreateContainer(c)
}

// createWithRandomName retries generated names until one is free.
func createWithRandomName(s *store.Store, c *store.Container) (*store.Container, error) {
	for try := 0; ; try++ {
		c.Name = randomName()
		if try > 10 {
			c.Name += "_" + c.ID[:6]
		}
		err := s.CreateContainer(c)
		if !errors.Is(err, store.ErrNameInUse) || try > 20 {
			return c, err
		}
	}
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// prepare fills in the parts of the spec that depend on where the store
// is: the overlay's dirs and the generated /etc files.
func prepare(s *store.Store, c *store.Container, spec *Spec) error {
	if err := overlayPaths(s, c, spec); err != nil {
		return err
	}
	dir := s.ContainerDir(c.ID)
	files := map[string]string{
		"hostname":    spec.Hostname + "\n",
		"hosts":       hostsFile(spec.Hostname, ""),
		"resolv.conf": resolvConf(),
	}
	if spec.HostNetwork { // the host's own, as docker has them
		hosts, _ := os.ReadFile("/etc/hosts")
		resolv, _ := os.ReadFile("/etc/resolv.conf")
		files["hosts"], files["resolv.conf"] = string(hosts), string(resolv)
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return fmt.Errorf("prepare container: %w", err)
		}
		spec.Mounts = append([]Mount{{Source: p, Destination: "/etc/" + name}}, spec.Mounts...)
	}
	return nil
}

// overlayPaths fills in the overlay's lower, upper, work and mount dirs.
func overlayPaths(s *store.Store, c *store.Container, spec *Spec) error {
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
	return nil
}

// hostsFile is a container's /etc/hosts; ip, when it has one, names it.
func hostsFile(hostname, ip string) string {
	self := "127.0.1.1"
	if ip != "" {
		self = ip
	}
	return fmt.Sprintf("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n%s\t%s\n", self, hostname)
}

// resolvConf is the host's resolv.conf without loopback name servers,
// which mean nothing inside the container's own network namespace.
func resolvConf() string {
	b, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		return ""
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "nameserver" && (strings.HasPrefix(f[1], "127.") || f[1] == "::1") {
			continue
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}
