package run

import (
	"cmp"
	"maps"
	"strconv"
	"time"

	tugnet "tug/net"
	"tug/run/childspec"
	"tug/store"
)

// ContainerInspect is the docker-shaped view of a container that inspect
// prints.
type ContainerInspect struct {
	ID              string           `json:"Id"`
	Name            string           `json:"Name"`
	Created         string           `json:"Created"`
	Path            string           `json:"Path"`
	Args            []string         `json:"Args"`
	State           InspectState     `json:"State"`
	Image           string           `json:"Image"`
	ImageName       string           `json:"ImageName"` // podman's: the image as named at create
	Pod             string           `json:"Pod"`       // podman's: the ID of its pod, or ""
	IsInfra         bool             `json:"IsInfra"`   // podman's: it holds its pod's namespaces
	LogPath         string           `json:"LogPath"`
	RestartCount    int              `json:"RestartCount"`
	HostConfig      InspectHost      `json:"HostConfig"`
	Mounts          []InspectMount   `json:"Mounts"`
	Config          InspectConfig    `json:"Config"`
	NetworkSettings InspectNetSettng `json:"NetworkSettings"`
	SizeRw          *int64           `json:"SizeRw,omitempty"` // with inspect --size
	SizeRootFs      *int64           `json:"SizeRootFs,omitempty"`
}

// InspectState is the State part of ContainerInspect.
type InspectState struct {
	Status     string        `json:"Status"`
	Running    bool          `json:"Running"`
	Paused     bool          `json:"Paused"`
	Restarting bool          `json:"Restarting"`
	OOMKilled  bool          `json:"OOMKilled"`
	Dead       bool          `json:"Dead"`
	Pid        int           `json:"Pid"`
	ExitCode   int           `json:"ExitCode"`
	Error      string        `json:"Error"`
	StartedAt  string        `json:"StartedAt"`
	FinishedAt string        `json:"FinishedAt"`
	Health     *store.Health `json:"Health,omitempty"`
}

// InspectHost is the HostConfig part of ContainerInspect.
type InspectHost struct {
	AutoRemove    bool `json:"AutoRemove"`
	RestartPolicy struct {
		Name              string `json:"Name"`
		MaximumRetryCount int    `json:"MaximumRetryCount"`
	} `json:"RestartPolicy"`
	ReadonlyRootfs bool   `json:"ReadonlyRootfs"`
	Init           bool   `json:"Init"`
	NetworkMode    string `json:"NetworkMode"`
	IpcMode        string `json:"IpcMode"`    // private, shareable, none, host or container:ID
	PidMode        string `json:"PidMode"`    // "" or host
	UTSMode        string `json:"UTSMode"`    // "" or host
	UsernsMode     string `json:"UsernsMode"` // "" or keep-id
	LogConfig      struct {
		Type   string            `json:"Type"`
		Config map[string]string `json:"Config"`
	} `json:"LogConfig"`
}

// InspectMount is one entry of Mounts.
type InspectMount struct {
	Type        string `json:"Type"`           // bind or volume
	Name        string `json:"Name,omitempty"` // a volume's
	Source      string `json:"Source"`
	Destination string `json:"Destination"`
	Mode        string `json:"Mode"`
	RW          bool   `json:"RW"`
}

// InspectConfig is the Config part of ContainerInspect.
type InspectConfig struct {
	Hostname   string            `json:"Hostname"`
	User       string            `json:"User"`
	Tty        bool              `json:"Tty"`
	OpenStdin  bool              `json:"OpenStdin"`
	Env        []string          `json:"Env"`
	Cmd        []string          `json:"Cmd"`
	Image      string            `json:"Image"`
	WorkingDir string            `json:"WorkingDir"`
	Labels     map[string]string `json:"Labels"`
	StopSignal string            `json:"StopSignal"`
	// StopTimeout is --stop-timeout's, docker's field; Annotations podman's
	StopTimeout *int              `json:"StopTimeout,omitempty"`
	Annotations map[string]string `json:"Annotations,omitempty"`
}

// InspectNetSettng is the NetworkSettings part of ContainerInspect.
type InspectNetSettng struct {
	IPAddress  string                     `json:"IPAddress"`
	Gateway    string                     `json:"Gateway"`
	MacAddress string                     `json:"MacAddress"`
	Ports      map[string][]string        `json:"Ports"`
	Networks   map[string]InspectEndpoint `json:"Networks"`
}

// InspectEndpoint is a container's place on one network, in
// NetworkSettings.Networks.
type InspectEndpoint struct {
	IPAddress   string   `json:"IPAddress"`
	IPPrefixLen int      `json:"IPPrefixLen"`
	Gateway     string   `json:"Gateway"`
	MacAddress  string   `json:"MacAddress"`
	Aliases     []string `json:"Aliases"`
}

// timeString formats a time as docker does, or its zero value.
func timeString(t time.Time) string {
	if t.IsZero() {
		return "0001-01-01T00:00:00Z"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// Inspect returns the docker-shaped view of a container, with its state
// reconciled.
func Inspect(s *store.Store, c *store.Container) (*ContainerInspect, error) {
	cfg, err := ContainerConfig(c)
	if err != nil {
		return nil, err
	}
	st, err := State(s, c)
	if err != nil {
		return nil, err
	}
	spec := cfg.Spec
	v := &ContainerInspect{
		ID: c.ID, Name: "/" + c.Name, Created: timeString(c.Created), Path: spec.Args[0], Args: spec.Args[1:],
		Image: c.Image.String(), ImageName: c.ImageName, Pod: c.Pod, IsInfra: IsInfra(s, c), LogPath: LogPath(s, c), RestartCount: st.Restarts,
		State: InspectState{
			Status: StatusWord(st), Running: st.Status == store.StatusRunning, Paused: st.Paused, OOMKilled: st.OOMKilled,
			ExitCode: st.ExitCode, Error: st.Error, StartedAt: timeString(st.StartedAt), FinishedAt: timeString(st.FinishedAt),
			Health: st.Health,
		},
		Config: InspectConfig{
			Hostname: spec.Hostname, User: spec.User, Tty: spec.Tty, OpenStdin: cfg.Interactive, Env: spec.Env,
			Cmd: spec.Args, Image: c.ImageName, WorkingDir: spec.Cwd, Labels: c.Labels, StopSignal: cfg.StopSignal,
			StopTimeout: cfg.StopTimeout, Annotations: cfg.Annotations,
		},
		NetworkSettings: networkSettings(s, c.ID, st.Status == store.StatusRunning, cfg.nets()),
		Mounts:          inspectMounts(spec.Mounts),
	}
	if v.State.Running {
		v.State.Pid = st.Pid
	}
	if v.Config.Labels == nil {
		v.Config.Labels = map[string]string{}
	}
	v.HostConfig.AutoRemove, v.HostConfig.ReadonlyRootfs, v.HostConfig.Init = cfg.AutoRemove, spec.ReadOnly, spec.Init
	v.HostConfig.NetworkMode = cfg.Network
	v.HostConfig.IpcMode, v.HostConfig.PidMode, v.HostConfig.UTSMode, v.HostConfig.UsernsMode = namespaceModes(cfg)
	v.HostConfig.LogConfig.Type, v.HostConfig.LogConfig.Config = logDriverName(cfg.LogDriver), map[string]string{}
	if cfg.LogMaxSize > 0 {
		v.HostConfig.LogConfig.Config["max-size"] = strconv.FormatInt(cfg.LogMaxSize, 10)
	}
	maps.Copy(v.HostConfig.LogConfig.Config, cfg.LogOpts)
	v.HostConfig.RestartPolicy.Name, v.HostConfig.RestartPolicy.MaximumRetryCount = cfg.Restart.Name, cfg.Restart.MaxRetries
	return v, nil
}

// netConfig is what a container's config says of its networks.
type netConfig struct {
	Network        string              `json:"network"`
	Connected      []string            `json:"connected,omitempty"`
	Aliases        []string            `json:"aliases,omitempty"`
	ConnectAliases map[string][]string `json:"connect_aliases,omitempty"`
}

// nets is what cfg says of its networks.
func (cfg *Config) nets() netConfig {
	return netConfig{cfg.Network, cfg.Connected, cfg.Aliases, cfg.ConnectAliases}
}

// aliasesOn lists a container's aliases on one network: --network-alias
// for its --network, network connect --alias for the others.
func (n netConfig) aliasesOn(network string) []string {
	if network == defaultName(n.Network) {
		return n.Aliases
	}
	return n.ConnectAliases[network]
}

// networkSettings are container id's addresses, ports and networks as
// inspect shows them: those it has while it runs, else the networks it
// will be on, with no address yet, as docker shows a container that
// does not run.
func networkSettings(s *store.Store, id string, running bool, n netConfig) InspectNetSettng {
	v := InspectNetSettng{Ports: map[string][]string{}, Networks: map[string]InspectEndpoint{}}
	if n.Network == "none" {
		return v
	}
	if !running {
		if bridgedNet(n.Network) {
			for _, name := range append([]string{cmp.Or(defaultName(n.Network), tugnet.DefaultName)}, n.Connected...) {
				v.Networks[name] = InspectEndpoint{Aliases: n.aliasesOn(name)}
			}
		}
		return v
	}
	var all []*tugnet.Settings
	if ns, _ := tugnet.Saved(s, id); ns != nil {
		v.IPAddress, v.Gateway, v.MacAddress = ns.IPAddress, ns.Gateway, ns.MacAddress
		for k, bs := range ns.Ports {
			for _, b := range bs {
				v.Ports[k] = append(v.Ports[k], b.HostIP+":"+b.HostPort)
			}
		}
		all = append(all, ns)
	}
	if len(n.Connected) > 0 { // the primary again, and the others
		more, _ := tugnet.SavedAll(s, id)
		all = append(all, more...)
	}
	for _, ns := range all {
		v.Networks[ns.Network] = InspectEndpoint{IPAddress: ns.IPAddress, IPPrefixLen: ns.PrefixLen,
			Gateway: ns.Gateway, MacAddress: ns.MacAddress, Aliases: n.aliasesOn(ns.Network)}
	}
	return v
}

// inspectMounts are a container's mounts as inspect shows them.
func inspectMounts(ms []childspec.Mount) []InspectMount {
	out := []InspectMount{}
	for _, m := range ms {
		mode := "rw"
		if m.ReadOnly {
			mode = "ro"
		}
		im := InspectMount{Type: "bind", Source: m.Source, Destination: m.Destination, Mode: mode, RW: !m.ReadOnly}
		if m.Volume != "" {
			im.Type, im.Name = "volume", m.Volume
		}
		out = append(out, im)
	}
	return out
}

// StatusPaused is the status word of a running container that is frozen.
const StatusPaused = "paused"

// StatusWord is docker's status word: paused for a running container
// that is frozen.
func StatusWord(st *store.ContainerState) string {
	if st.Status == store.StatusRunning && st.Paused {
		return StatusPaused
	}
	return st.Status
}

// namespaceModes are a container's --ipc, --pid, --uts and --userns as
// docker's inspect shows them.
func namespaceModes(cfg *Config) (ipc, pid, uts, userns string) {
	ipc = cmp.Or(cfg.IPC, "private")
	if cfg.Spec.HostIPC {
		ipc = "host"
	}
	pid, uts = cfg.PID, cfg.UTS
	if cfg.Spec.HostPID {
		pid = "host"
	}
	if cfg.Spec.HostUTS {
		uts = "host"
	}
	if cfg.Spec.KeepID != nil {
		userns = "keep-id"
	}
	return ipc, pid, uts, userns
}
