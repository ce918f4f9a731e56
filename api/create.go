package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"

	"tug/run"
	"tug/run/health"
	"tug/store"
)

// createContainer is POST /containers/create?name=: the request's
// Config and HostConfig become the options tug create takes. The image
// must be there: docker's clients pull it (images/create) on a 404.
func (srv *server) createContainer(w http.ResponseWriter, r *http.Request) {
	var req container.CreateRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if req.Config == nil || req.Image == "" {
		writeError(w, badRequest(errors.New("config: no image given")))
		return
	}
	img, err := srv.Store.LookupImage(req.Image)
	if err != nil {
		writeError(w, err)
		return
	}
	opt, warnings, err := srv.options(r.URL.Query().Get("name"), &req)
	if err != nil {
		writeError(w, badRequest(err))
		return
	}
	c, err := run.Create(srv.Store, img, req.Image, opt)
	if err == nil {
		err = srv.connectMore(c, opt.Network, req.NetworkingConfig)
	}
	if err != nil {
		if !errors.Is(err, store.ErrNameInUse) {
			err = badRequest(err)
		}
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, container.CreateResponse{ID: c.ID, Warnings: warnings})
}

// options are create's options from a request, on top of the config's
// defaults, and warnings for the fields tug does not take.
func (srv *server) options(name string, req *container.CreateRequest) (run.Options, []string, error) {
	cfg, hc := req.Config, req.HostConfig
	if hc == nil {
		hc = &container.HostConfig{}
	}
	opt := srv.Defaults
	opt.Name, opt.Cmd, opt.Env, opt.Workdir, opt.User, opt.Hostname = name, cfg.Cmd, cfg.Env, cfg.WorkingDir, cfg.User, cfg.Hostname
	opt.Tty, opt.Interactive, opt.StopSignal, opt.StopTimeout = cfg.Tty, cfg.OpenStdin, cfg.StopSignal, cfg.StopTimeout
	if cfg.Entrypoint != nil {
		opt.EntrypointSet, opt.Entrypoint = true, cfg.Entrypoint
	}
	opt.Labels = pairs(cfg.Labels)
	opt.AutoRemove, opt.ReadOnly, opt.Volumes, opt.PublishAll = hc.AutoRemove, hc.ReadonlyRootfs, hc.Binds, hc.PublishAllPorts
	opt.Init = hc.Init != nil && *hc.Init
	opt.Network = string(hc.NetworkMode)
	if defaultNetwork(opt.Network) {
		opt.Network = ""
	}
	if nc := req.NetworkingConfig; nc != nil {
		for name, e := range nc.EndpointsConfig {
			if name == opt.Network || defaultNetwork(name) && opt.Network == "" {
				opt.IP, opt.Aliases = endpoint(e)
			}
		}
	}
	opt.DNS, opt.DNSSearch, opt.DNSOptions, opt.AddHosts = addrs(hc.DNS), hc.DNSSearch, hc.DNSOptions, hc.ExtraHosts
	opt.IPC, opt.PID, opt.UTS, opt.UserNS = string(hc.IpcMode), string(hc.PidMode), string(hc.UTSMode), string(hc.UsernsMode)
	opt.GroupAdd, opt.Annotations = hc.GroupAdd, pairs(hc.Annotations)
	if hc.RestartPolicy.Name != "" {
		opt.Restart = string(hc.RestartPolicy.Name)
		if hc.RestartPolicy.MaximumRetryCount > 0 {
			opt.Restart += ":" + strconv.Itoa(hc.RestartPolicy.MaximumRetryCount)
		}
	}
	if t := hc.LogConfig.Type; t != "" && t != "json-file" {
		opt.LogDriver = t
	}
	opt.LogOpts = pairs(hc.LogConfig.Config)
	if h, w := hc.ConsoleSize[0], hc.ConsoleSize[1]; h > 0 && w > 0 && h <= math.MaxUint16 && w <= math.MaxUint16 {
		opt.ConsoleSize = [2]uint16{uint16(h), uint16(w)}
	}
	opt.Security = run.Security{
		CapAdd: hc.CapAdd, CapDrop: hc.CapDrop, Privileged: hc.Privileged, SecurityOpts: hc.SecurityOpt,
		Sysctls: pairs(hc.Sysctls), OOMScoreAdj: hc.OomScoreAdj, DeviceRules: hc.DeviceCgroupRules,
	}
	for dst, o := range hc.Tmpfs {
		opt.Security.Tmpfs = append(opt.Security.Tmpfs, strings.TrimSuffix(dst+":"+o, ":"))
	}
	if hc.ShmSize > 0 {
		opt.Security.ShmSize = strconv.FormatInt(hc.ShmSize, 10)
	}
	for _, d := range hc.Devices {
		opt.Security.Devices = append(opt.Security.Devices, strings.Join([]string{d.PathOnHost, d.PathInContainer, d.CgroupPermissions}, ":"))
	}
	for _, u := range hc.Ulimits {
		opt.Security.Ulimits = append(opt.Security.Ulimits, fmt.Sprintf("%s=%d:%d", u.Name, u.Soft, u.Hard))
	}
	for port, binds := range hc.PortBindings {
		for _, b := range binds {
			opt.Publish = append(opt.Publish, publishFlag(b, port.String()))
		}
	}
	for _, m := range hc.Mounts {
		opt.Mounts = append(opt.Mounts, mountFlag(m))
	}
	opt.Limits = limits(hc.Resources)
	opt.VolumesFrom = hc.VolumesFrom
	if h := cfg.Healthcheck; h != nil {
		opt.Health = healthFlags(h)
	}
	return opt, unsupported(hc), nil
}

// connectMore puts a new container on the networks of the request
// beyond its first, as network connect does; on an error the container
// is removed again.
func (srv *server) connectMore(c *store.Container, first string, nc *network.NetworkingConfig) error {
	if nc == nil {
		return nil
	}
	for _, name := range slices.Sorted(maps.Keys(nc.EndpointsConfig)) {
		if name == first || defaultNetwork(first) && defaultNetwork(name) {
			continue
		}
		ip, aliases := endpoint(nc.EndpointsConfig[name])
		if err := run.Connect(srv.Store, c, name, ip, aliases, srv.Defaults.Subnet); err != nil {
			run.Remove(srv.Store, c, true)
			return err
		}
	}
	return nil
}

// limits are a request's resources as tug's --memory and co.
func limits(r container.Resources) run.Limits {
	size := func(n int64) string {
		if n == 0 {
			return ""
		}
		return strconv.FormatInt(n, 10)
	}
	l := run.Limits{
		Memory: size(r.Memory), MemoryReservation: size(r.MemoryReservation), MemorySwap: size(r.MemorySwap),
		CPUShares: r.CPUShares, CpusetCpus: r.CpusetCpus, CpusetMems: r.CpusetMems, BlkioWeight: int64(r.BlkioWeight),
	}
	if r.NanoCPUs > 0 {
		l.Cpus = strconv.FormatFloat(float64(r.NanoCPUs)/1e9, 'f', -1, 64)
	}
	if r.PidsLimit != nil && *r.PidsLimit > 0 {
		l.PidsLimit = *r.PidsLimit
	}
	for _, d := range r.BlkioDeviceReadBps {
		l.DeviceReadBps = append(l.DeviceReadBps, fmt.Sprintf("%s:%d", d.Path, d.Rate))
	}
	for _, d := range r.BlkioDeviceWriteBps {
		l.DeviceWriteBps = append(l.DeviceWriteBps, fmt.Sprintf("%s:%d", d.Path, d.Rate))
	}
	return l
}

// publishFlag is a port binding as tug's -p value: PORT/PROTO for a
// host port of tug's choosing, HOSTPORT:PORT, or IP:[HOSTPORT]:PORT.
func publishFlag(b network.PortBinding, port string) string {
	switch {
	case !b.HostIP.IsValid() && b.HostPort == "":
		return port
	case !b.HostIP.IsValid():
		return b.HostPort + ":" + port
	}
	return b.HostIP.String() + ":" + b.HostPort + ":" + port
}

// mountFlag is a mount of the request as tug's --mount value.
func mountFlag(m mount.Mount) string {
	parts := []string{"type=" + string(m.Type), "destination=" + m.Target}
	if m.Source != "" {
		parts = append(parts, "source="+m.Source)
	}
	if m.ReadOnly {
		parts = append(parts, "readonly")
	}
	if m.TmpfsOptions != nil && m.TmpfsOptions.SizeBytes > 0 {
		parts = append(parts, "tmpfs-size="+strconv.FormatInt(m.TmpfsOptions.SizeBytes, 10))
	}
	return strings.Join(parts, ",")
}

// unsupported warns of the fields set in a request that tug does not
// take, by name, so that nothing is dropped silently.
func unsupported(hc *container.HostConfig) []string {
	var names []string
	if len(hc.Links) > 0 {
		names = append(names, "HostConfig.Links")
	}
	if hc.CgroupParent != "" {
		names = append(names, "HostConfig.CgroupParent")
	}
	warnings := []string{}
	for _, n := range names {
		warnings = append(warnings, fmt.Sprintf("tug ignores %s", n))
	}
	return warnings
}

// healthFlags are a request's healthcheck as tug's --health-* flags.
func healthFlags(h *container.HealthConfig) health.Flags {
	f := health.Flags{Interval: h.Interval, Timeout: h.Timeout, StartPeriod: h.StartPeriod, StartInterval: h.StartInterval, Retries: h.Retries}
	switch {
	case len(h.Test) == 0:
	case h.Test[0] == "NONE":
		f.None = true
	default:
		b, _ := json.Marshal(h.Test)
		f.Cmd = string(b)
	}
	return f
}

// addrs are DNS servers as strings.
func addrs(in []netip.Addr) []string {
	var out []string
	for _, a := range in {
		out = append(out, a.String())
	}
	return out
}

// pairs is a map as K=V strings, in key order.
func pairs(m map[string]string) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, k+"="+m[k])
	}
	return out
}
