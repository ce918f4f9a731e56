package run

import (
	"golang.org/x/sys/unix"

	"tug/run/cgroups"
	"tug/store/userns"
)

// Host is what tug knows of the machine it runs on.
type Host struct {
	Kernel   string         `json:"kernel"`
	Arch     string         `json:"arch"`
	Cgroups  cgroups.Layout `json:"cgroups"`
	Rootless bool           `json:"rootless"`
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
	return Host{
		Kernel:   unix.ByteSliceToString(u.Release[:]),
		Arch:     unix.ByteSliceToString(u.Machine[:]),
		Cgroups:  cg,
		Rootless: userns.Rootless(),
	}, nil
}
