// Package plan is what crosses between tug and its Kubernetes helper
// (kube/cmd/tug-kube, which alone links k8s.io/api): the pods, volumes
// and files a set of Kubernetes objects comes to on one machine, in
// tug's own terms, as JSON. kube play asks the helper for a Plan of
// YAML; kube generate hands it Pods to write as YAML.
package plan

// Plan is what kube play makes.
type Plan struct {
	Pods []Pod `json:"pods"`
	// Volumes are the named volumes of PersistentVolumeClaims, made if
	// missing and kept by kube down.
	Volumes []string `json:"volumes,omitempty"`
	// Warnings name each kind and field tug does not carry out.
	Warnings []string `json:"warnings,omitempty"`
}

// Pod is one pod to make: a Pod, or one replica of a Deployment, the
// pod of a DaemonSet or a Job.
type Pod struct {
	Name     string            `json:"name"`
	Labels   map[string]string `json:"labels,omitempty"`
	Hostname string            `json:"hostname,omitempty"`
	// Ports are the containers' ports with a hostPort, as -p takes them:
	// [IP:]HOSTPORT:CONTAINERPORT/PROTO.
	Ports []string `json:"ports,omitempty"`
	// Restart is the pod's restartPolicy in tug's words: always,
	// on-failure or no.
	Restart      string      `json:"restart,omitempty"`
	ShareProcess bool        `json:"share_process,omitempty"` // shareProcessNamespace
	HostNetwork  bool        `json:"host_network,omitempty"`
	Init         []Container `json:"init,omitempty"` // initContainers, run in order to completion first
	Containers   []Container `json:"containers"`
	// Files are the contents of its configMap and secret volumes, by
	// volume name, then by file path inside the volume.
	Files map[string]map[string]File `json:"files,omitempty"`
	// Kind is the kind of object the pod comes from (Pod, Deployment,
	// DaemonSet, Job), and Owner its name.
	Kind  string `json:"kind"`
	Owner string `json:"owner"`
}

// File is one file of a configMap or secret volume.
type File struct {
	Data []byte `json:"data"`
	Mode uint32 `json:"mode"`
}

// Container is one container of a pod.
type Container struct {
	Name       string   `json:"name"`
	Image      string   `json:"image"`
	Entrypoint []string `json:"entrypoint,omitempty"` // command
	Cmd        []string `json:"cmd,omitempty"`        // args
	Env        []string `json:"env,omitempty"`        // K=V, resolved
	WorkingDir string   `json:"working_dir,omitempty"`
	Mounts     []Mount  `json:"mounts,omitempty"`
	// Pull is imagePullPolicy in tug's words: always, missing or never.
	Pull string `json:"pull,omitempty"`
	// Memory in bytes and NanoCPUs (1e9 a CPU) are resources.limits.
	Memory   int64 `json:"memory,omitempty"`
	NanoCPUs int64 `json:"nano_cpus,omitempty"`
	// User is runAsUser[:runAsGroup], or "" for the image's.
	User       string   `json:"user,omitempty"`
	Privileged bool     `json:"privileged,omitempty"`
	CapAdd     []string `json:"cap_add,omitempty"`
	CapDrop    []string `json:"cap_drop,omitempty"`
	ReadOnly   bool     `json:"read_only,omitempty"`
	Health     *Probe   `json:"health,omitempty"`
	Stdin      bool     `json:"stdin,omitempty"`
	Tty        bool     `json:"tty,omitempty"`
}

// Mount is one volumeMount, with its volume resolved.
type Mount struct {
	// Type is bind (hostPath), volume (a named tug volume: a claim's, or
	// an emptyDir's of the pod), or files (a configMap or secret volume:
	// Pod.Files[Source]).
	Type        string `json:"type"`
	Source      string `json:"source"`
	Destination string `json:"destination"`
	ReadOnly    bool   `json:"read_only,omitempty"`
	// Create, for a bind, makes the host directory when it is missing
	// (hostPath type DirectoryOrCreate, or none).
	Create bool `json:"create,omitempty"`
	// Ephemeral, for a volume, is an emptyDir's: it goes with the pod.
	Ephemeral bool `json:"ephemeral,omitempty"`
	// Secret, for files, is a secret volume's (else a configMap's).
	Secret bool `json:"secret,omitempty"`
}

// Probe is a liveness (or readiness) probe as a tug healthcheck.
type Probe struct {
	// Test is the healthcheck's: CMD ARGS… for an exec probe, or tug's
	// own TCP HOST:PORT and HTTP URL, which the monitor runs from the
	// pod's network namespace.
	Test          []string `json:"test"`
	IntervalSecs  int      `json:"interval_secs"`
	TimeoutSecs   int      `json:"timeout_secs"`
	StartSecs     int      `json:"start_secs,omitempty"`
	Retries       int      `json:"retries"`
	RestartOnFail bool     `json:"restart_on_fail,omitempty"` // liveness: restart the container, as the kubelet does
}

// Request is what tug hands the helper on its stdin: one of Play and
// Generate.
type Request struct {
	Play     *PlayRequest     `json:"play,omitempty"`
	Generate *GenerateRequest `json:"generate,omitempty"`
}

// Source is one input file, read by tug.
type Source struct {
	Name string `json:"name"` // for errors: the path, or "-" for stdin
	Data []byte `json:"data"`
}

// PlayRequest is kube play's: the YAML, and the files of --configmap,
// whose ConfigMaps the YAML may name.
type PlayRequest struct {
	Files      []Source `json:"files"`
	ConfigMaps []Source `json:"configmaps,omitempty"`
	// Down asks for kube down's plan: ConfigMaps and Secrets that are
	// not there are passed over, as only the names count.
	Down bool `json:"down,omitempty"`
}

// GenerateRequest is kube generate's: the pods to write (a container of
// no pod comes as a pod of its own), as Pods (Type "pod") or
// Deployments, and with Service a NodePort Service for each pod with
// ports.
type GenerateRequest struct {
	Pods    []Pod  `json:"pods"`
	Type    string `json:"type"`
	Service bool   `json:"service,omitempty"`
}
