package run

import (
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"tug/internal/userns"
	tugnet "tug/net"
	"tug/run/cgroups"
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
	// In podman's info names: the runtime (tug is its own), the distro
	// (/etc/os-release) and the default log driver.
	OCIRuntime   struct{ Name string } `json:"oci_runtime"`
	Distribution Distribution          `json:"distribution"`
	LogDriver    string                `json:"log_driver"`
}

// Distribution is the host's distro, from /etc/os-release.
type Distribution struct {
	Distribution string `json:"distribution"`
	Version      string `json:"version"`
}

// osRelease reads /etc/os-release's ID and VERSION_ID.
func osRelease(file string) Distribution {
	var d Distribution
	b, _ := os.ReadFile(file)
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, "=")
		v = strings.Trim(v, `"'`)
		switch k {
		case "ID":
			d.Distribution = v
		case "VERSION_ID":
			d.Version = v
		}
	}
	return d
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
		Kernel:       unix.ByteSliceToString(u.Release[:]),
		Arch:         unix.ByteSliceToString(u.Machine[:]),
		Cgroups:      cg,
		Rootless:     userns.Rootless(),
		Distribution: osRelease("/etc/os-release"),
		LogDriver:    "k8s-file",
	}
	h.OCIRuntime.Name = "tug"
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
