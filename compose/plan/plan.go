// Package plan is what tug and its compose helper (compose/cmd/
// tug-compose) say to each other, in JSON: tug's side links none of
// compose-go.
package plan

// Request is what tug asks of the helper: the resolved model (Config)
// or the project in tug's terms (Plan).
type Request struct {
	Project Options        `json:"project"`
	Config  *ConfigRequest `json:"config,omitempty"`
	Plan    bool           `json:"plan,omitempty"`
}

// Project is a compose project in tug's terms: what up makes and down
// removes.
type Project struct {
	Name        string    `json:"name"`
	WorkingDir  string    `json:"working_dir"`
	ConfigFiles []string  `json:"config_files"`
	Networks    []Network `json:"networks,omitempty"`
	Volumes     []Volume  `json:"volumes,omitempty"`
	Services    []Service `json:"services"` // in dependency order
	// Disabled are the services of profiles not enabled: their
	// containers are not orphans.
	Disabled []string `json:"disabled,omitempty"`
	// Warnings name each field tug does not carry out.
	Warnings []string `json:"warnings,omitempty"`
}

// Network is a network of the project: Name is tug's (PROJECT_KEY, or
// the name given); an external one is only looked up.
type Network struct {
	Key      string            `json:"key"` // the name services use
	Name     string            `json:"name"`
	External bool              `json:"external,omitempty"`
	Internal bool              `json:"internal,omitempty"`
	Subnet   string            `json:"subnet,omitempty"`
	Gateway  string            `json:"gateway,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
}

// Volume is a named volume of the project, as Network is a network;
// Options are its driver_opts, the local driver's (volume create -o).
type Volume struct {
	Key      string            `json:"key"`
	Name     string            `json:"name"`
	External bool              `json:"external,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
	Options  map[string]string `json:"options,omitempty"`
}

// Service is one service, its fields as tug run's flags take them.
type Service struct {
	Name          string       `json:"name"`
	Image         string       `json:"image"`               // the image's, or PROJECT-SERVICE for one built
	ImageSet      bool         `json:"image_set,omitempty"` // the file names the image (else it is built, and named for the service)
	Build         *Build       `json:"build,omitempty"`
	Pull          string       `json:"pull,omitempty"` // pull_policy: always, missing, never or build
	Scale         int          `json:"scale"`
	DependsOn     []Dependency `json:"depends_on,omitempty"`
	ContainerName string       `json:"container_name,omitempty"`
	Entrypoint    []string     `json:"entrypoint,omitempty"`
	EntrypointSet bool         `json:"entrypoint_set,omitempty"` // entrypoint: [] clears the image's
	Command       []string     `json:"command,omitempty"`
	Env           []string     `json:"env,omitempty"` // K=V, env_file's then environment's
	WorkingDir    string       `json:"working_dir,omitempty"`
	User          string       `json:"user,omitempty"`
	Hostname      string       `json:"hostname,omitempty"`
	Labels        []string     `json:"labels,omitempty"`  // K=V
	Ports         []string     `json:"ports,omitempty"`   // as -p takes them
	Volumes       []string     `json:"volumes,omitempty"` // as -v takes them, named volumes by tug's name
	Mounts        []string     `json:"mounts,omitempty"`  // as --mount takes them: tmpfs
	Tmpfs         []string     `json:"tmpfs,omitempty"`
	// NetworkMode is network_mode (host, none), or "" for Networks.
	NetworkMode string       `json:"network_mode,omitempty"`
	Networks    []ServiceNet `json:"networks,omitempty"` // the first is the primary
	Health      *Health      `json:"health,omitempty"`
	Restart     string       `json:"restart,omitempty"`
	Memory      string       `json:"memory,omitempty"`
	Cpus        string       `json:"cpus,omitempty"`
	PidsLimit   int64        `json:"pids_limit,omitempty"`
	CapAdd      []string     `json:"cap_add,omitempty"`
	CapDrop     []string     `json:"cap_drop,omitempty"`
	Privileged  bool         `json:"privileged,omitempty"`
	ReadOnly    bool         `json:"read_only,omitempty"`
	Ulimits     []string     `json:"ulimits,omitempty"` // NAME=SOFT[:HARD]
	Sysctls     []string     `json:"sysctls,omitempty"` // NAME=VALUE
	Init        bool         `json:"init,omitempty"`
	StopSignal  string       `json:"stop_signal,omitempty"`
	StopTimeout *int         `json:"stop_timeout,omitempty"` // stop_grace_period, seconds
	ExtraHosts  []string     `json:"extra_hosts,omitempty"`  // NAME:IP
	DNS         []string     `json:"dns,omitempty"`
	DNSSearch   []string     `json:"dns_search,omitempty"`
	DNSOptions  []string     `json:"dns_options,omitempty"`
	Tty         bool         `json:"tty,omitempty"`
	StdinOpen   bool         `json:"stdin_open,omitempty"`
	ShmSize     string       `json:"shm_size,omitempty"`
	SecurityOpt []string     `json:"security_opt,omitempty"`
	GroupAdd    []string     `json:"group_add,omitempty"`
	Devices     []string     `json:"devices,omitempty"`
	Pid         string       `json:"pid,omitempty"`
	Ipc         string       `json:"ipc,omitempty"`
	Expose      []string     `json:"expose,omitempty"` // documents ports: a project network reaches them all anyway
}

// Build is a service's build section, for tug build.
type Build struct {
	Context    string   `json:"context"` // absolute
	Dockerfile string   `json:"dockerfile,omitempty"`
	Args       []string `json:"args,omitempty"` // K=V
	Target     string   `json:"target,omitempty"`
	Labels     []string `json:"labels,omitempty"`
	NoCache    bool     `json:"no_cache,omitempty"`
	Pull       bool     `json:"pull,omitempty"`
}

// Dependency is one depends_on entry: the service waited for, and for
// what (service_started, service_healthy or
// service_completed_successfully).
type Dependency struct {
	Service   string `json:"service"`
	Condition string `json:"condition"`
	Required  bool   `json:"required"`
}

// ServiceNet is a service's attachment to a project network (Key).
type ServiceNet struct {
	Key     string   `json:"key"`
	Aliases []string `json:"aliases,omitempty"`
	IPv4    string   `json:"ipv4,omitempty"`
}

// Health is a service's healthcheck, as --health-* take it: Test is
// HEALTHCHECK's JSON form (["CMD", …] or ["CMD-SHELL", "…"]).
type Health struct {
	Test          []string `json:"test,omitempty"`
	Disable       bool     `json:"disable,omitempty"`
	Interval      string   `json:"interval,omitempty"` // Go durations
	Timeout       string   `json:"timeout,omitempty"`
	StartPeriod   string   `json:"start_period,omitempty"`
	StartInterval string   `json:"start_interval,omitempty"`
	Retries       int      `json:"retries,omitempty"`
}

// Options find and read a project as docker compose does: its -f files
// (none: compose.yaml, compose.yml, docker-compose.yaml or .yml in the
// helper's directory, tug's, or one above, with its override file), -p,
// --profile, --env-file, --project-directory, and the caller's
// environment (for interpolation, over the project's .env; COMPOSE_FILE,
// COMPOSE_PROJECT_NAME and COMPOSE_PROFILES count).
type Options struct {
	Files      []string `json:"files,omitempty"`
	ProjectDir string   `json:"project_dir,omitempty"`
	Name       string   `json:"name,omitempty"`
	Profiles   []string `json:"profiles,omitempty"`
	EnvFiles   []string `json:"env_files,omitempty"`
	Env        []string `json:"env"`
}

// ConfigRequest asks for the resolved model, as docker compose config
// prints it: Format yaml or json; Services, only the services' names.
type ConfigRequest struct {
	Format   string `json:"format"`
	Services bool   `json:"services,omitempty"`
}
