package compose

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"tug/compose/plan"
	"tug/run"
	"tug/run/health"
)

// containerName is the name of container n of svc: docker compose's
// PROJECT-SERVICE-N, or the service's container_name.
func containerName(p *plan.Project, svc plan.Service, n int) string {
	if svc.ContainerName != "" {
		return svc.ContainerName
	}
	return fmt.Sprintf("%s-%s-%d", p.Name, svc.Name, n)
}

// attachment is a network a container joins after its primary one.
type attachment struct {
	network, ip string
	aliases     []string
}

// containerOptions are the run options of container n of svc, and the
// networks it joins past its first.
func containerOptions(p *plan.Project, svc plan.Service, n int, hash string, base run.Options) (run.Options, []attachment, error) {
	o := base
	o.Name = containerName(p, svc, n)
	o.Cmd, o.Env, o.Workdir, o.User, o.Hostname = svc.Command, svc.Env, svc.WorkingDir, svc.User, svc.Hostname
	o.EntrypointSet, o.Entrypoint = svc.EntrypointSet, svc.Entrypoint
	o.Publish, o.Volumes, o.Mounts = svc.Ports, svc.Volumes, svc.Mounts
	o.Restart, o.ReadOnly, o.Init, o.Tty, o.Interactive = svc.Restart, svc.ReadOnly, svc.Init, svc.Tty, svc.StdinOpen
	o.StopSignal, o.StopTimeout = svc.StopSignal, svc.StopTimeout
	o.AddHosts, o.DNS, o.DNSSearch, o.DNSOptions = svc.ExtraHosts, svc.DNS, svc.DNSSearch, svc.DNSOptions
	o.GroupAdd, o.PID, o.IPC = svc.GroupAdd, svc.Pid, svc.Ipc
	o.Limits.Memory, o.Limits.Cpus, o.Limits.PidsLimit = svc.Memory, svc.Cpus, svc.PidsLimit
	sec := &o.Security
	sec.CapAdd, sec.CapDrop, sec.Privileged, sec.Tmpfs = svc.CapAdd, svc.CapDrop, svc.Privileged, svc.Tmpfs
	sec.Ulimits, sec.Sysctls, sec.ShmSize, sec.SecurityOpts, sec.Devices = svc.Ulimits, svc.Sysctls, svc.ShmSize, svc.SecurityOpt, svc.Devices
	o.Labels = append(append([]string{}, svc.Labels...), labels(p, svc, n, hash)...)
	var err error
	if o.Health, err = healthFlags(svc.Health); err != nil {
		return o, nil, err
	}
	if svc.NetworkMode != "" {
		o.Network = svc.NetworkMode
		return o, nil, nil
	}
	var more []attachment
	for i, sn := range svc.Networks {
		name, err := networkName(p, sn.Key)
		if err != nil {
			return o, nil, err
		}
		// docker compose's aliases: the service's name, then the user's
		aliases := append([]string{svc.Name}, sn.Aliases...)
		if i == 0 {
			o.Network, o.IP, o.Aliases = name, sn.IPv4, aliases
			continue
		}
		more = append(more, attachment{network: name, ip: sn.IPv4, aliases: aliases})
	}
	return o, more, nil
}

// labels are the compose labels of container n of svc.
func labels(p *plan.Project, svc plan.Service, n int, hash string) []string {
	var deps []string
	for _, d := range svc.DependsOn {
		deps = append(deps, fmt.Sprintf("%s:%s:%t", d.Service, d.Condition, false))
	}
	return []string{
		LabelProject + "=" + p.Name, LabelService + "=" + svc.Name, LabelNumber + "=" + strconv.Itoa(n),
		LabelOneoff + "=False", LabelHash + "=" + hash, LabelWorkingDir + "=" + p.WorkingDir,
		LabelConfigFiles + "=" + strings.Join(p.ConfigFiles, ","), LabelVersion + "=" + version,
		LabelDependsOn + "=" + strings.Join(deps, ","), LabelImage + "=" + svc.Image,
	}
}

// networkName is tug's name of the project network key.
func networkName(p *plan.Project, key string) (string, error) {
	for _, n := range p.Networks {
		if n.Key == key {
			return n.Name, nil
		}
	}
	return "", fmt.Errorf("network %s is not the project's", key)
}

// healthFlags are a service's healthcheck as --health-* flags; nil
// leaves the image's.
func healthFlags(h *plan.Health) (health.Flags, error) {
	var f health.Flags
	if h == nil {
		return f, nil
	}
	if h.Disable {
		f.None = true
		return f, nil
	}
	if len(h.Test) > 0 {
		test, err := json.Marshal(h.Test)
		if err != nil {
			return f, err
		}
		f.Cmd = string(test)
	}
	for _, d := range []struct {
		v  string
		to *time.Duration
	}{{h.Interval, &f.Interval}, {h.Timeout, &f.Timeout}, {h.StartPeriod, &f.StartPeriod}, {h.StartInterval, &f.StartInterval}} {
		if d.v == "" {
			continue
		}
		v, err := time.ParseDuration(d.v)
		if err != nil {
			return f, fmt.Errorf("healthcheck: %w", err)
		}
		*d.to = v
	}
	f.Retries = h.Retries
	return f, nil
}
