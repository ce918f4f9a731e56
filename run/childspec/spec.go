// Package childspec is what crosses the pipe from tug to its re-exec
// children: the Spec of a container for tug-init, the Exec of a command
// for tug-exec, and the types they are made of. Both sides import it;
// it imports neither.
package childspec

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"tug/run/cgroups"
)

// The storage drivers (Spec.Driver): "" is overlay.
const (
	DriverOverlay = "overlay"
	DriverFuse    = "fuse-overlayfs"
	DriverCopy    = "copy"
)

// Spec is everything the re-exec child needs to build the container. The
// parent sends it as JSON over an inherited pipe, never as argv.
type Spec struct {
	Rootfs string `json:"rootfs"` // where the overlay is mounted
	// Umask is the entrypoint's umask (--umask); nil is docker's 0022.
	Umask    *uint32  `json:"umask,omitempty"`
	LayerDir string   `json:"layerdir"` // lower dirs are relative to it
	Lower    []string `json:"lower"`    // layer diff dirs, top first
	// Premounted: tug mount put the rootfs on the host already; the
	// child finds it at Rootfs in its copy of the host's mount
	// namespace and mounts nothing.
	Premounted bool   `json:"premounted,omitempty"`
	Upper      string `json:"upper"`
	Work       string `json:"work"`
	// Driver is how the rootfs is made (storage.go): "" or overlay, the
	// child mounts it; fuse-overlayfs or copy, the keeper prepares it
	// and the child binds it.
	Driver string `json:"driver,omitempty"`
	// UserNS: the keeper runs in tug's user namespace (rootless), and
	// SingleID: that namespace maps only the user's own IDs. Filled in
	// with the overlay paths, from what the store read once, so that the
	// child need not read its ID maps again.
	UserNS   bool `json:"userns,omitempty"`
	SingleID bool `json:"single_id,omitempty"`
	// KeepID is --userns keep-id (rootless): a user namespace of the
	// container's own, nested in tug's, where the user's host IDs are
	// the same inside. nil: the container is in tug's namespace.
	KeepID *KeepID `json:"keep_id,omitempty"`

	Args []string `json:"args"`
	Env  []string `json:"env"`
	Cwd  string   `json:"cwd"`
	User string   `json:"user"` // name, uid, name:group or uid:gid; "" is root
	// GroupAdd are supplementary groups beyond the user's (--group-add):
	// names in the image's /etc/group, or numbers.
	GroupAdd []string `json:"group_add,omitempty"`
	Hostname string   `json:"hostname"`
	Tty      bool     `json:"tty"`
	// ConsoleFD, with Tty, is the inherited fd of the console socket
	// (console.go).
	ConsoleFD int  `json:"console_fd,omitempty"`
	Init      bool `json:"init"`
	// Pause, with Init, is a pod's infra container: tug's reaper is its
	// pid 1 with no entrypoint to start; it holds the pod's namespaces
	// and reaps what is reparented to it (Args are for show only).
	Pause bool `json:"pause,omitempty"`
	// CgroupTasks are the v1 "tasks" files the child moves itself into,
	// and UnshareCgroup has it make its cgroup namespace then (v1 hosts,
	// where it cannot be cloned straight into its cgroup).
	CgroupTasks   []string `json:"cgroup_tasks,omitempty"`
	UnshareCgroup bool     `json:"unshare_cgroup,omitempty"`
	// CgroupMounts are the cgroup filesystems mounted at /sys/fs/cgroup,
	// read-only but with --privileged.
	CgroupMounts []cgroups.Mount `json:"cgroup_mounts,omitempty"`
	// Release: the child waits for the parent's go-ahead byte before it
	// runs anything of the container (network plumbing).
	Release bool `json:"release,omitempty"`
	// HostNetwork: the container shares the host's network namespace.
	HostNetwork bool `json:"host_network,omitempty"`
	// HostUTS, HostIPC and HostPID: the host's UTS, IPC and pid
	// namespaces (--uts, --ipc, --pid host), not new ones.
	HostUTS bool `json:"host_uts,omitempty"`
	HostIPC bool `json:"host_ipc,omitempty"`
	HostPID bool `json:"host_pid,omitempty"`
	// IPCFD, if not 0, is the child's fd of a pidfd of the container
	// whose IPC namespace it joins (--ipc container:C); NoShm leaves
	// /dev/shm unmounted (--ipc none).
	IPCFD int  `json:"ipc_fd,omitempty"`
	NoShm bool `json:"no_shm,omitempty"`
	// UTSFD, if not 0, is the child's fd of a pidfd of the container
	// whose UTS namespace it joins (a pod's infra container), whose
	// hostname it keeps.
	UTSFD int `json:"uts_fd,omitempty"`
	// NoHosts leaves the image's /etc/hosts (--no-hosts).
	NoHosts bool `json:"no_hosts,omitempty"`
	// JoinNetNS: the child joins the network namespace of the process
	// whose pidfd it inherits as fd 5 (--network container:C).
	JoinNetNS  bool     `json:"join_netns,omitempty"`
	DNS        []string `json:"dns,omitempty"`
	DNSSearch  []string `json:"dns_search,omitempty"`
	DNSOptions []string `json:"dns_options,omitempty"`
	ExtraHosts []string `json:"extra_hosts,omitempty"` // NAME:IP
	// EmbeddedDNS points resolv.conf at the keeper's DNS server (user
	// networks, where containers resolve each other by name).
	EmbeddedDNS bool `json:"embedded_dns,omitempty"`

	ReadOnly      bool              `json:"read_only"`
	NoNewPrivs    bool              `json:"no_new_privs"`
	Privileged    bool              `json:"privileged,omitempty"`
	Caps          []string          `json:"caps"` // bounding, effective and permitted for root
	Seccomp       BPF               `json:"seccomp,omitempty"`
	Mounts        []Mount           `json:"mounts"`
	Tmpfs         []Tmpfs           `json:"tmpfs,omitempty"`
	MaskedPaths   []string          `json:"masked_paths"`
	ReadonlyPaths []string          `json:"readonly_paths"`
	Devices       []Device          `json:"devices,omitempty"`
	Rlimits       []Rlimit          `json:"rlimits,omitempty"`
	Sysctls       map[string]string `json:"sysctls,omitempty"`
	ShmSize       int64             `json:"shm_size,omitempty"`
	OOMScoreAdj   int               `json:"oom_score_adj,omitempty"`
}

// KeepID is who --userns keep-id keeps: the user's host IDs (and the
// count of IDs tug's namespace maps, which the nested one permutes), and
// the passwd entry the child adds to the image's files when they lack
// the IDs.
type KeepID struct {
	UID      uint32 `json:"uid"`
	GID      uint32 `json:"gid"`
	UIDCount uint32 `json:"uid_count"`
	GIDCount uint32 `json:"gid_count"`
	Name     string `json:"name"`
	Home     string `json:"home"`
}

// Mount is a bind mount from the host into the container: a host path,
// or a volume's data dir.
type Mount struct {
	Source      string `json:"source"`
	Destination string `json:"destination"`
	ReadOnly    bool   `json:"read_only"`
	Volume      string `json:"volume,omitempty"` // the volume's name; its Source is the volume's data
	NoCopy      bool   `json:"-"`                // -v …:nocopy: no copy-up of the image's content, at create
	// VolumeOptions and VolumeLabels are --mount's volume-opt= and
	// volume-label=, for a volume that this create makes.
	VolumeOptions map[string]string `json:"-"`
	VolumeLabels  map[string]string `json:"-"`
}

// DefaultCaps is docker's default capability set.
func DefaultCaps() []string {
	return []string{
		"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
		"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
		"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
	}
}

// DefaultMaskedPaths are hidden in the container, as docker hides them.
func DefaultMaskedPaths() []string {
	return []string{
		"/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
		"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
		"/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
	}
}

// DefaultReadonlyPaths are read-only in the container, as in docker.
func DefaultReadonlyPaths() []string {
	return []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
}

// Tmpfs is a tmpfs mounted in the container.
type Tmpfs struct {
	Destination string `json:"destination"`
	Options     string `json:"options"`
}

// Rlimit is one --ulimit.
type Rlimit struct {
	Resource int    `json:"resource"`
	Soft     uint64 `json:"soft"`
	Hard     uint64 `json:"hard"`
}

// Device is a host device node made in the container's /dev.
type Device struct {
	Path   string `json:"path"` // in the container
	Type   byte   `json:"type"` // 'c' or 'b'
	Major  uint32 `json:"major"`
	Minor  uint32 `json:"minor"`
	Mode   uint32 `json:"mode"`
	Access string `json:"access"` // rwm
}

// BPF is a compiled seccomp filter; in JSON it is the base64 of its
// 8-byte instructions, a tenth of the size of a list of objects.
type BPF []unix.SockFilter

// Bytes are the program's 8-byte instructions, in the kernel's layout
// (little-endian, as on every architecture tug builds for).
func (p BPF) Bytes() []byte {
	raw := make([]byte, 0, 8*len(p))
	for _, in := range p {
		raw = binary.LittleEndian.AppendUint16(raw, in.Code)
		raw = append(raw, in.Jt, in.Jf)
		raw = binary.LittleEndian.AppendUint32(raw, in.K)
	}
	return raw
}

// ParseBPF reads Bytes' form.
func ParseBPF(raw []byte) (BPF, error) {
	if len(raw)%8 != 0 {
		return nil, fmt.Errorf("seccomp program of %d bytes", len(raw))
	}
	p := make(BPF, len(raw)/8)
	for i := range p {
		r := raw[8*i:]
		p[i] = unix.SockFilter{Code: binary.LittleEndian.Uint16(r), Jt: r[2], Jf: r[3], K: binary.LittleEndian.Uint32(r[4:])}
	}
	return p, nil
}

// MarshalJSON encodes the program as base64.
func (p BPF) MarshalJSON() ([]byte, error) {
	return json.Marshal(p.Bytes())
}

// UnmarshalJSON decodes MarshalJSON's form.
func (p *BPF) UnmarshalJSON(b []byte) error {
	var raw []byte
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	prog, err := ParseBPF(raw)
	*p = prog
	return err
}

// Exec is what tug-exec needs to run a command in a container, decided
// by the parent.
type Exec struct {
	Args       []string `json:"args"`
	Env        []string `json:"env"`
	Cwd        string   `json:"cwd"`
	User       string   `json:"user"`
	GroupAdd   []string `json:"group_add,omitempty"`
	Tty        bool     `json:"tty"`
	Detach     bool     `json:"detach"`
	ConsoleFD  int      `json:"console_fd,omitempty"` // with Tty (console.go)
	Caps       []string `json:"caps"`
	NoNewPrivs bool     `json:"no_new_privs"`
	Seccomp    BPF      `json:"seccomp,omitempty"`
	// Rlimits are the container's --ulimit, which docker's exec gets too.
	Rlimits []Rlimit `json:"rlimits,omitempty"`
	// Probe is a healthcheck's probe: it runs in a process group of
	// its own, which the helper kills past ProbeTimeout or on any signal
	// it gets. The helper reads the probe's output (stdout and stderr
	// together), and once the probe exited writes a ProbeResult to its
	// own stdout and exits with the probe's code.
	// Namespaces are the container's namespaces to join (CLONE_NEW*
	// flags); Cgroups the files to join its cgroups through (none
	// rootless). The parent decides both, a prober once for its probes.
	Namespaces   int           `json:"namespaces"`
	Cgroups      []string      `json:"cgroups,omitempty"`
	Probe        bool          `json:"probe,omitempty"`
	ProbeTimeout time.Duration `json:"probe_timeout,omitempty"`
	// Dial, with Probe, is a network probe the helper makes itself in
	// the container's network namespace, instead of starting Args.
	Dial *Dial `json:"dial,omitempty"`
}

// Dial is a network probe: a TCP connect, or an HTTP GET whose status
// must be 200 to 399, as the kubelet's.
type Dial struct {
	TCP  string `json:"tcp,omitempty"`  // HOST:PORT
	HTTP string `json:"http,omitempty"` // URL
}

// ProbeResult is what the helper reports of a probe besides its code.
type ProbeResult struct {
	Output   string `json:"output"` // its first 4 KiB (MaxProbeOutput)
	TimedOut bool   `json:"timed_out,omitempty"`
}

// MaxProbeOutput is how much of a probe's output is kept, as docker
// keeps.
const MaxProbeOutput = 4096
