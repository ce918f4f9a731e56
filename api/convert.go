package api

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"

	"tug/run"
	"tug/store"
)

// inspectResponse is inspect's view of a container in the API's type.
func inspectResponse(in *run.ContainerInspect) *container.InspectResponse {
	ports := portMap(in.NetworkSettings.Ports)
	out := &container.InspectResponse{
		ID: in.ID, Name: in.Name, Created: in.Created, Path: in.Path, Args: in.Args,
		Image: in.Image, LogPath: in.LogPath, RestartCount: in.RestartCount, Driver: "overlay", Platform: "linux",
		State: &container.State{
			Status: container.ContainerState(in.State.Status), Running: in.State.Running, Paused: in.State.Paused,
			Restarting: in.State.Restarting, OOMKilled: in.State.OOMKilled, Dead: in.State.Dead, Pid: in.State.Pid,
			ExitCode: in.State.ExitCode, Error: in.State.Error, StartedAt: in.State.StartedAt, FinishedAt: in.State.FinishedAt,
			Health: healthOf(in.State.Health),
		},
		HostConfig: &container.HostConfig{
			AutoRemove: in.HostConfig.AutoRemove, ReadonlyRootfs: in.HostConfig.ReadonlyRootfs, Init: &in.HostConfig.Init,
			NetworkMode: container.NetworkMode(apiNetwork(in.HostConfig.NetworkMode)), PortBindings: ports,
			IpcMode: container.IpcMode(in.HostConfig.IpcMode), PidMode: container.PidMode(in.HostConfig.PidMode),
			UTSMode: container.UTSMode(in.HostConfig.UTSMode), UsernsMode: container.UsernsMode(in.HostConfig.UsernsMode),
			RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyMode(in.HostConfig.RestartPolicy.Name), MaximumRetryCount: in.HostConfig.RestartPolicy.MaximumRetryCount},
			LogConfig:     container.LogConfig{Type: in.HostConfig.LogConfig.Type, Config: in.HostConfig.LogConfig.Config},
		},
		Mounts: mountPoints(in.Mounts),
		Config: &container.Config{
			Hostname: in.Config.Hostname, User: in.Config.User, Tty: in.Config.Tty, OpenStdin: in.Config.OpenStdin,
			Env: in.Config.Env, Cmd: in.Config.Cmd, Image: in.Config.Image, WorkingDir: in.Config.WorkingDir,
			Labels: in.Config.Labels, StopSignal: in.Config.StopSignal, StopTimeout: in.Config.StopTimeout,
			Entrypoint: entrypoint(in),
		},
		NetworkSettings: &container.NetworkSettings{Ports: ports, Networks: endpoints(in.ID, in.NetworkSettings.Networks)},
		SizeRw:          in.SizeRw, SizeRootFs: in.SizeRootFs,
	}
	return out
}

// entrypoint is what of Path and Args the image's entrypoint was: the
// API has the two apart, inspect's Path and Args run them together.
func entrypoint(in *run.ContainerInspect) []string {
	n := len(in.Args) - len(in.Config.Cmd)
	if n < 0 || in.Path == "" {
		return nil
	}
	return append([]string{in.Path}, in.Args[:n]...)
}

// summary is a container as /containers/json lists it, with status,
// ps's text of its state.
func summary(l *run.Listed) container.Summary {
	c, st := l.Container, l.ContainerState
	out := container.Summary{
		ID: c.ID, Names: []string{"/" + c.Name}, Image: c.ImageName, ImageID: c.Image.String(),
		Command: strings.Join(l.Args, " "), Created: c.Created.Unix(),
		Labels: c.Labels, State: container.ContainerState(l.PsRow.State), Status: l.Status,
		Ports: portSummaries(l.NetworkSettings.Ports), Mounts: mountPoints(l.MountPoints),
		NetworkSettings: &container.NetworkSettingsSummary{Networks: endpoints(c.ID, l.NetworkSettings.Networks)},
		SizeRw:          l.SizeRw, SizeRootFs: l.SizeRootFs,
	}
	out.HostConfig.NetworkMode = apiNetwork(l.NetworkMode)
	if st.Health != nil {
		out.Health = &container.HealthSummary{Status: container.HealthStatus(st.Health.Status), FailingStreak: st.Health.FailingStreak}
	}
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	return out
}

// healthOf is a healthcheck's record in the API's type.
func healthOf(h *store.Health) *container.Health {
	if h == nil {
		return nil
	}
	out := &container.Health{Status: container.HealthStatus(h.Status), FailingStreak: h.FailingStreak}
	for _, r := range h.Log {
		out.Log = append(out.Log, &container.HealthcheckResult{Start: r.Start, End: r.End, ExitCode: r.ExitCode, Output: r.Output})
	}
	return out
}

// portMap reads inspect's "80/tcp": ["0.0.0.0:8080"].
func portMap(in map[string][]string) network.PortMap {
	out := network.PortMap{}
	for k, binds := range in {
		p, err := network.ParsePort(k)
		if err != nil {
			continue
		}
		out[p] = []network.PortBinding{}
		for _, b := range binds {
			i := strings.LastIndex(b, ":")
			ip, _ := netip.ParseAddr(strings.Trim(b[:max(i, 0)], "[]"))
			out[p] = append(out[p], network.PortBinding{HostIP: ip, HostPort: b[i+1:]})
		}
	}
	return out
}

// portSummaries is portMap as a list, /containers/json's shape.
func portSummaries(in map[string][]string) []container.PortSummary {
	out := []container.PortSummary{}
	for p, binds := range portMap(in) {
		if len(binds) == 0 {
			out = append(out, container.PortSummary{PrivatePort: p.Num(), Type: string(p.Proto())})
		}
		for _, b := range binds {
			public, _ := strconv.ParseUint(b.HostPort, 10, 16)
			out = append(out, container.PortSummary{IP: b.HostIP, PrivatePort: p.Num(), PublicPort: uint16(public), Type: string(p.Proto())})
		}
	}
	return out
}

func mountPoints(in []run.InspectMount) []container.MountPoint {
	out := []container.MountPoint{}
	for _, m := range in {
		mp := container.MountPoint{Type: mount.Type(m.Type), Name: m.Name, Source: m.Source, Destination: m.Destination, Mode: m.Mode, RW: m.RW}
		if m.Type == "volume" {
			mp.Driver = "local"
		}
		out = append(out, mp)
	}
	return out
}

// endpoints are container id's places on its networks. On a network of
// the user's, its short ID is one of its names, in Aliases (API 1.44's
// place for it) and DNSNames, as tug's DNS answers it.
func endpoints(id string, in map[string]run.InspectEndpoint) map[string]*network.EndpointSettings {
	out := map[string]*network.EndpointSettings{}
	for name, e := range in {
		ep := &network.EndpointSettings{Aliases: e.Aliases, IPPrefixLen: e.IPPrefixLen}
		if !defaultNetwork(name) {
			ep.Aliases = append(slices.Clone(e.Aliases), id[:12])
			ep.DNSNames = ep.Aliases
		}
		ep.IPAddress, _ = netip.ParseAddr(e.IPAddress)
		ep.Gateway, _ = netip.ParseAddr(e.Gateway)
		ep.MacAddress.UnmarshalText([]byte(e.MacAddress))
		out[apiNetwork(name)] = ep
	}
	return out
}

// apiNetwork is a network's name in the API: the default network is
// bridge there, as clients expect.
func apiNetwork(name string) string {
	if defaultNetwork(name) {
		return "bridge"
	}
	return name
}

// defaultNetwork tells whether a request's network name means tug's
// default network.
func defaultNetwork(name string) bool {
	return name == "" || name == "default" || name == "bridge" || name == "tug"
}
