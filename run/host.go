package run

import (
	"golang.org/x/sys/unix"

	tugnet "tug/net"
	"tug/run/cgroups"
	"tug/store/userns"
)

// Host is what tug knows of the machine it runs on.
type Host struct {
	Kernel   string         `json:"kernel"`
	Arch     string         `json:"arch"`
	Cgroups  cgroups.Layout `json:"cgroups"`
	Rootless bool           `json:"rootless"`
	// Rootless only: tug's ID maps ("0 1000 1, 1 100000 65536") and
	// the default network of its containers.
	UIDMap  string `json:"uid_map,omitempty"`
	GIDMap  string `json:"gid_map,omitempty"`
	Network string `json:"rootless_network,omitempty"`
}

// DescribeHost reads the kernel release, cgroup layout and privilege.
func DescribeHost() (Host, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return Host{}, err
	}
	cg, err := cgroups.Detect("/sys/fs/cgroup")
	if err != nil {
		return Host{}, err
	}
	h := Host{
		Kernel:   unix.ByteSliceToString(u.Release[:]),
		Arch:     unix.ByteSliceToString(u.Machine[:]),
		Cgroups:  cg,
		Rootless: userns.Rootless(),
	}
	if h.Rootless {
		if m, err := userns.Current(); err == nil && userns.Inside() {
			h.UIDMap, h.GIDMap = m.UIDString(), m.GIDString()
		}
		h.Network, err = tugnet.UserModeStack("bridge")
		if err != nil {
			h.Network = "none (install passt or slirp4netns)"
		}
	}
	return h, nil
}
