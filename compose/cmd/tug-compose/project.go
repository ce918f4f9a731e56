package main

import (
	"cmp"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"tug/compose/plan"
)

// toPlan is the project in tug's terms, its services in dependency
// order, with a warning for each field tug does not carry out.
func toPlan(p *types.Project) (*plan.Project, error) {
	out := &plan.Project{Name: p.Name, WorkingDir: p.WorkingDir, ConfigFiles: p.ComposeFiles, Disabled: slices.Sorted(maps.Keys(p.DisabledServices))}
	order, err := dependencyOrder(p)
	if err != nil {
		return nil, err
	}
	nets := map[string]types.NetworkConfig{}
	maps.Copy(nets, p.Networks)
	for _, name := range order {
		svc, warns, err := service(p, p.Services[name], nets)
		if err != nil {
			return nil, fmt.Errorf("service %s: %w", name, err)
		}
		out.Services = append(out.Services, svc)
		out.Warnings = append(out.Warnings, warns...)
	}
	for _, key := range slices.Sorted(maps.Keys(nets)) {
		n := nets[key]
		pn := plan.Network{Key: key, Name: n.Name, External: bool(n.External), Internal: n.Internal, Labels: n.Labels}
		if len(n.Ipam.Config) > 0 && n.Ipam.Config[0] != nil {
			pn.Subnet, pn.Gateway = n.Ipam.Config[0].Subnet, n.Ipam.Config[0].Gateway
		}
		if n.Driver != "" && n.Driver != "bridge" {
			out.Warnings = append(out.Warnings, fmt.Sprintf("network %s: driver %s is not supported: a bridge network is made", key, n.Driver))
		}
		if len(n.DriverOpts) > 0 || n.EnableIPv6 != nil && *n.EnableIPv6 || len(n.Ipam.Config) > 1 {
			out.Warnings = append(out.Warnings, fmt.Sprintf("network %s: of its settings, only internal and the first ipam subnet and gateway are carried out", key))
		}
		out.Networks = append(out.Networks, pn)
	}
	for _, key := range slices.Sorted(maps.Keys(p.Volumes)) {
		v := p.Volumes[key]
		if v.Driver != "" && v.Driver != "local" {
			out.Warnings = append(out.Warnings, fmt.Sprintf("volume %s: driver %s is not supported: a local volume is made", key, v.Driver))
		}
		out.Volumes = append(out.Volumes, plan.Volume{Key: key, Name: v.Name, External: bool(v.External), Labels: v.Labels, Options: v.DriverOpts})
	}
	return out, nil
}

// dependencyOrder is the services' names, each after those it depends
// on, by name where that leaves a choice.
func dependencyOrder(p *types.Project) ([]string, error) {
	var order []string
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(name string, path []string) error
	visit = func(name string, path []string) error {
		switch state[name] {
		case 1:
			return fmt.Errorf("depends_on makes a cycle: %s", strings.Join(append(path, name), " -> "))
		case 2:
			return nil
		}
		svc, ok := p.Services[name]
		if !ok {
			return nil // an optional dependency that is not enabled
		}
		state[name] = 1
		for _, dep := range slices.Sorted(maps.Keys(svc.DependsOn)) {
			if err := visit(dep, append(path, name)); err != nil {
				return err
			}
		}
		state[name] = 2
		order = append(order, name)
		return nil
	}
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		if err := visit(name, nil); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// service maps one service; nets gains the default network when the
// service is on it.
func service(p *types.Project, s types.ServiceConfig, nets map[string]types.NetworkConfig) (plan.Service, []string, error) {
	out := plan.Service{
		Name: s.Name, Image: s.Image, Pull: s.PullPolicy, Scale: s.GetScale(), ContainerName: s.ContainerName,
		Command: s.Command, WorkingDir: s.WorkingDir, User: s.User, Hostname: s.Hostname,
		CapAdd: s.CapAdd, CapDrop: s.CapDrop, Privileged: s.Privileged, ReadOnly: s.ReadOnly,
		StopSignal: s.StopSignal, DNS: s.DNS, DNSSearch: s.DNSSearch, DNSOptions: s.DNSOpts,
		Tty: s.Tty, StdinOpen: s.StdinOpen, SecurityOpt: s.SecurityOpt, GroupAdd: s.GroupAdd,
		Pid: s.Pid, Ipc: s.Ipc, Tmpfs: s.Tmpfs, Restart: s.Restart, Expose: s.Expose,
	}
	if s.Entrypoint != nil {
		out.Entrypoint, out.EntrypointSet = s.Entrypoint, true
	}
	out.ImageSet = out.Image != ""
	if !out.ImageSet {
		out.Image = p.Name + "-" + s.Name // docker compose's name for a built image
	}
	if s.Build != nil {
		out.Build = build(s.Build)
	}
	for _, dep := range slices.Sorted(maps.Keys(s.DependsOn)) {
		d := s.DependsOn[dep]
		out.DependsOn = append(out.DependsOn, plan.Dependency{Service: dep, Condition: d.Condition, Required: d.Required})
	}
	for _, k := range slices.Sorted(maps.Keys(s.Environment)) {
		if v := s.Environment[k]; v != nil {
			out.Env = append(out.Env, k+"="+*v)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(s.Labels)) {
		out.Labels = append(out.Labels, k+"="+s.Labels[k])
	}
	for _, host := range slices.Sorted(maps.Keys(s.ExtraHosts)) {
		for _, ip := range s.ExtraHosts[host] {
			out.ExtraHosts = append(out.ExtraHosts, host+":"+ip)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(s.Sysctls)) {
		out.Sysctls = append(out.Sysctls, k+"="+s.Sysctls[k])
	}
	for _, name := range slices.Sorted(maps.Keys(s.Ulimits)) {
		out.Ulimits = append(out.Ulimits, ulimit(name, s.Ulimits[name]))
	}
	for _, d := range s.Devices {
		out.Devices = append(out.Devices, d.Source+":"+d.Target+":"+cmp.Or(d.Permissions, "rwm"))
	}
	if s.Init != nil {
		out.Init = *s.Init
	}
	if s.StopGracePeriod != nil {
		secs := int(time.Duration(*s.StopGracePeriod).Seconds())
		out.StopTimeout = &secs
	}
	if s.ShmSize > 0 {
		out.ShmSize = strconv.FormatInt(int64(s.ShmSize), 10)
	}
	limits(&out, s)
	out.Ports = ports(s.Ports)
	if err := volumes(&out, p, s); err != nil {
		return out, nil, err
	}
	if err := networks(&out, p.Name, s, nets); err != nil {
		return out, nil, err
	}
	out.Health = healthcheck(s.HealthCheck)
	return out, unsupported(s), nil
}

func build(b *types.BuildConfig) *plan.Build {
	out := &plan.Build{Context: b.Context, Dockerfile: b.Dockerfile, Target: b.Target, NoCache: b.NoCache, Pull: b.Pull}
	for _, k := range slices.Sorted(maps.Keys(b.Args)) {
		if v := b.Args[k]; v != nil {
			out.Args = append(out.Args, k+"="+*v)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(b.Labels)) {
		out.Labels = append(out.Labels, k+"="+b.Labels[k])
	}
	return out
}

func ulimit(name string, u *types.UlimitsConfig) string {
	if u.Single != 0 {
		return fmt.Sprintf("%s=%d", name, u.Single)
	}
	return fmt.Sprintf("%s=%d:%d", name, u.Soft, u.Hard)
}

// limits are mem_limit, cpus and pids_limit, or deploy's limits.
func limits(out *plan.Service, s types.ServiceConfig) {
	mem, cpus, pids := int64(s.MemLimit), float64(s.CPUS), s.PidsLimit
	if s.Deploy != nil && s.Deploy.Resources.Limits != nil {
		l := s.Deploy.Resources.Limits
		if l.MemoryBytes > 0 {
			mem = int64(l.MemoryBytes)
		}
		if l.NanoCPUs > 0 {
			cpus = float64(l.NanoCPUs.Value())
		}
		if l.Pids > 0 {
			pids = l.Pids
		}
	}
	if mem > 0 {
		out.Memory = strconv.FormatInt(mem, 10)
	}
	if cpus > 0 {
		out.Cpus = strconv.FormatFloat(cpus, 'f', -1, 64)
	}
	out.PidsLimit = pids
}

// ports are the published ports as -p takes them.
func ports(ps []types.ServicePortConfig) []string {
	var out []string
	for _, p := range ps {
		v := strconv.FormatUint(uint64(p.Target), 10)
		if p.Published != "" {
			v = p.Published + ":" + v
		}
		if p.HostIP != "" {
			if p.Published == "" {
				v = ":" + v
			}
			v = p.HostIP + ":" + v
		}
		if p.Protocol != "" && p.Protocol != "tcp" {
			v += "/" + p.Protocol
		}
		out = append(out, v)
	}
	return out
}

// volumes are the service's volumes as -v and --mount take them, its
// secrets and configs as read-only binds of their files.
func volumes(out *plan.Service, p *types.Project, s types.ServiceConfig) error {
	for _, v := range s.Volumes {
		switch v.Type {
		case types.VolumeTypeTmpfs:
			m := "type=tmpfs,destination=" + v.Target
			if v.Tmpfs != nil && v.Tmpfs.Size > 0 {
				m += ",tmpfs-size=" + strconv.FormatInt(int64(v.Tmpfs.Size), 10)
			}
			out.Mounts = append(out.Mounts, m)
			continue
		case types.VolumeTypeVolume:
			if v.Source == "" {
				out.Volumes = append(out.Volumes, v.Target) // anonymous
				continue
			}
			vol, ok := p.Volumes[v.Source]
			if !ok {
				return fmt.Errorf("volume %s is not declared in the top-level volumes", v.Source)
			}
			out.Volumes = append(out.Volumes, mode(vol.Name+":"+v.Target, v.ReadOnly))
		case types.VolumeTypeBind:
			out.Volumes = append(out.Volumes, mode(v.Source+":"+v.Target, v.ReadOnly))
		default:
			return fmt.Errorf("volume %s: type %s is not supported", v.Target, v.Type)
		}
	}
	for _, sec := range s.Secrets {
		def, ok := p.Secrets[sec.Source]
		if !ok || def.File == "" {
			return fmt.Errorf("secret %s: only secrets from a file are supported", sec.Source)
		}
		target := cmp.Or(sec.Target, sec.Source)
		if !filepath.IsAbs(target) {
			target = "/run/secrets/" + target
		}
		out.Volumes = append(out.Volumes, def.File+":"+target+":ro")
	}
	for _, cfg := range s.Configs {
		def, ok := p.Configs[cfg.Source]
		if !ok || def.File == "" {
			return fmt.Errorf("config %s: only configs from a file are supported", cfg.Source)
		}
		out.Volumes = append(out.Volumes, def.File+":"+cmp.Or(cfg.Target, "/"+cfg.Source)+":ro")
	}
	return nil
}

func mode(v string, ro bool) string {
	if ro {
		return v + ":ro"
	}
	return v
}

// networks are the service's networks, by priority then name, or its
// network_mode; a service given neither is on the project's default
// network.
func networks(out *plan.Service, project string, s types.ServiceConfig, nets map[string]types.NetworkConfig) error {
	switch mode := s.NetworkMode; {
	case mode == "host" || mode == "none":
		out.NetworkMode = mode
		return nil
	case mode != "":
		return fmt.Errorf("network_mode %s is not supported: want host, none, or networks", mode)
	}
	keys := s.NetworksByPriority()
	if len(keys) == 0 {
		keys = []string{"default"}
	}
	for _, key := range keys {
		if _, ok := nets[key]; !ok {
			if key != "default" {
				return fmt.Errorf("network %s is not declared in the top-level networks", key)
			}
			nets[key] = types.NetworkConfig{Name: project + "_default"}
		}
		sn := plan.ServiceNet{Key: key}
		if c := s.Networks[key]; c != nil {
			sn.Aliases, sn.IPv4 = c.Aliases, c.Ipv4Address
		}
		out.Networks = append(out.Networks, sn)
	}
	return nil
}

// healthcheck is the service's, nil for the image's.
func healthcheck(h *types.HealthCheckConfig) *plan.Health {
	if h == nil {
		return nil
	}
	out := &plan.Health{Test: h.Test, Disable: h.Disable || len(h.Test) > 0 && h.Test[0] == "NONE"}
	dur := func(d *types.Duration) string {
		if d == nil {
			return ""
		}
		return time.Duration(*d).String()
	}
	out.Interval, out.Timeout, out.StartPeriod, out.StartInterval = dur(h.Interval), dur(h.Timeout), dur(h.StartPeriod), dur(h.StartInterval)
	if h.Retries != nil {
		out.Retries = int(*h.Retries)
	}
	return out
}

// unsupported names the fields of s that tug does not carry out.
func unsupported(s types.ServiceConfig) []string {
	type field struct {
		name string
		set  bool
	}
	fields := []field{
		{"cgroup_parent", s.CgroupParent != ""}, {"cgroup", s.Cgroup != ""}, {"cpu_count", s.CPUCount != 0},
		{"cpu_percent", s.CPUPercent != 0}, {"cpu_period", s.CPUPeriod != 0}, {"cpu_quota", s.CPUQuota != 0},
		{"cpu_rt_period", s.CPURTPeriod != 0}, {"cpu_rt_runtime", s.CPURTRuntime != 0}, {"cpuset", s.CPUSet != ""},
		{"cpu_shares", s.CPUShares != 0}, {"credential_spec", s.CredentialSpec != nil},
		{"device_cgroup_rules", len(s.DeviceCgroupRules) > 0}, {"domainname", s.DomainName != ""},
		{"gpus", len(s.Gpus) > 0}, {"isolation", s.Isolation != ""}, {"links", len(s.Links) > 0},
		{"external_links", len(s.ExternalLinks) > 0}, {"logging", s.Logging != nil}, {"log_driver", s.LogDriver != ""},
		{"mem_reservation", s.MemReservation != 0}, {"memswap_limit", s.MemSwapLimit != 0},
		{"mem_swappiness", s.MemSwappiness != 0}, {"mac_address", s.MacAddress != ""},
		{"oom_kill_disable", s.OomKillDisable}, {"oom_score_adj", s.OomScoreAdj != 0}, {"platform", s.Platform != ""},
		{"runtime", s.Runtime != ""}, {"storage_opt", len(s.StorageOpt) > 0}, {"userns_mode", s.UserNSMode != ""},
		{"uts", s.Uts != ""}, {"volumes_from", len(s.VolumesFrom) > 0}, {"develop", s.Develop != nil},
		{"post_start", len(s.PostStart) > 0}, {"pre_stop", len(s.PreStop) > 0}, {"annotations", len(s.Annotations) > 0},
		{"blkio_config", s.BlkioConfig != nil}, {"models", len(s.Models) > 0}, {"provider", s.Provider != nil},
		{"use_api_socket", s.UseAPISocket}, {"umask", s.Umask != nil}, {"pull_refresh_after", s.PullRefreshAfter != ""},
		{"attach", s.Attach != nil}, {"log_opt", len(s.LogOpt) > 0}, {"pre_start", len(s.PreStart) > 0}, {"net", s.Net != ""},
	}
	for _, v := range s.Volumes {
		fields = append(fields, []field{
			{"volumes[" + v.Target + "].volume.nocopy", v.Volume != nil && v.Volume.NoCopy},
			{"volumes[" + v.Target + "].volume.subpath", v.Volume != nil && v.Volume.Subpath != ""},
			{"volumes[" + v.Target + "].bind.propagation", v.Bind != nil && v.Bind.Propagation != ""},
			{"volumes[" + v.Target + "].bind.selinux", v.Bind != nil && v.Bind.SELinux != ""},
			{"volumes[" + v.Target + "].tmpfs.mode", v.Tmpfs != nil && v.Tmpfs.Mode != 0},
		}...)
	}
	for _, key := range slices.Sorted(maps.Keys(s.Networks)) {
		if n := s.Networks[key]; n != nil {
			fields = append(fields, []field{
				{"networks." + key + ".mac_address", n.MacAddress != ""}, {"networks." + key + ".ipv6_address", n.Ipv6Address != ""},
				{"networks." + key + ".link_local_ips", len(n.LinkLocalIPs) > 0}, {"networks." + key + ".driver_opts", len(n.DriverOpts) > 0},
			}...)
		}
	}
	var out []string
	for _, f := range fields {
		if f.set {
			out = append(out, fmt.Sprintf("service %s: %s is not supported, and is left out", s.Name, f.name))
		}
	}
	if d := s.Deploy; d != nil && (d.Mode != "" && d.Mode != "replicated" || d.Resources.Reservations != nil || d.RestartPolicy != nil ||
		len(d.Placement.Constraints) > 0 || len(d.Labels) > 0 || d.UpdateConfig != nil || d.RollbackConfig != nil || d.EndpointMode != "") {
		out = append(out, fmt.Sprintf("service %s: of deploy, only replicas and resources.limits are carried out", s.Name))
	}
	return out
}
