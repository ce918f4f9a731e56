// Package doctor checks what tug needs on this host, rootless use
// included, and says how to fix what is missing (tug doctor).
package doctor

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"tug/internal/userns"
	tugnet "tug/net"
	"tug/run"
	"tug/run/cgroups"
	"tug/store"
)

// Check is one line of tug doctor: what was checked, whether it is
// fine, what was found, and how to fix it when it is not. A warning is
// a check that is not fine but does not stop tug (it falls back).
type Check struct {
	Name    string `json:"check"`
	OK      bool   `json:"ok"`
	Warning bool   `json:"warning,omitempty"`
	Detail  string `json:"detail"`
	Fix     string `json:"fix,omitempty"`
}

// Doctor checks everything tug depends on, for rootless use when the
// caller is not root. It runs as the user, outside tug's user namespace,
// and tries the namespace and an overlay mount for real.
func Doctor(s *store.Store, xdgRuntimeDir, cgroupManager string) []Check {
	checks := []Check{kernelCheck()}
	if os.Geteuid() == 0 {
		checks = append(checks, rootOverlayCheck(), cgroupCheck(s, cgroupManager))
		checks = append(checks, natChecks()...)
	} else {
		checks = append(checks, rootlessChecks(s, xdgRuntimeDir, cgroupManager)...)
	}
	return append(checks, storeCheck(s))
}

func rootlessChecks(s *store.Store, xdg, manager string) []Check {
	acc, err := userns.Self()
	var checks []Check
	checks = append(checks, userNSChecks(s)...)
	ranges := Check{Name: "subordinate IDs", OK: err == nil && len(acc.SubUIDs) > 0 && len(acc.SubGIDs) > 0}
	switch {
	case err != nil:
		ranges.Detail = err.Error()
	case ranges.OK:
		ranges.Detail = fmt.Sprintf("%s has %d subordinate UIDs and %d GIDs", acc.Name, count(acc.SubUIDs), count(acc.SubGIDs))
	default:
		ranges.Warning = true
		ranges.Detail = fmt.Sprintf("no range for %s in /etc/subuid or /etc/subgid: containers run with a single ID", acc.Name)
		ranges.Fix = fmt.Sprintf("sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 %s", acc.Name)
	}
	checks = append(checks, ranges)
	for _, helper := range []string{"newuidmap", "newgidmap"} {
		c := Check{Name: helper}
		if path, err := userns.MapHelper(helper); err != nil {
			c.Detail, c.Fix = strings.TrimPrefix(err.Error(), userns.ErrSetup.Error()+": "), "sudo apt-get install uidmap"
		} else {
			c.OK, c.Detail = true, path+" is setuid root"
		}
		checks = append(checks, c)
	}
	checks = append(checks, cgroupCheck(s, manager), runtimeDirCheck(xdg))
	return append(checks, networkChecks()...)
}

func count(rs []userns.SubRange) (n uint64) {
	for _, r := range rs {
		n += uint64(r.Count)
	}
	return n
}

// kernelCheck wants 5.11, the first kernel that mounts overlayfs in a
// user namespace.
func kernelCheck() Check {
	var u unix.Utsname
	unix.Uname(&u)
	release := unix.ByteSliceToString(u.Release[:])
	var major, minor int
	fmt.Sscanf(release, "%d.%d", &major, &minor)
	c := Check{Name: "kernel", OK: major > 5 || (major == 5 && minor >= 11), Detail: release}
	if !c.OK {
		c.Fix = "tug needs Linux 5.11 or later (overlayfs in user namespaces, openat2, the new mount API)"
	}
	return c
}

// userNSChecks makes a user namespace (mapping only the user's own ID,
// which needs no helper) and mounts an overlay in it, on the store's
// filesystem, with the options tug uses.
func userNSChecks(s *store.Store) []Check {
	ns := Check{Name: "user namespaces"}
	ov := Check{Name: "overlayfs in a user namespace"}
	dir, done, err := s.TempDir()
	if err != nil {
		ns.Detail = err.Error()
		return []Check{ns}
	}
	defer done()
	self, err := os.Executable()
	if err != nil {
		ns.Detail = err.Error()
		return []Check{ns}
	}
	var stderr bytes.Buffer
	cmd := &exec.Cmd{Path: self, Args: []string{ProbeRole, dir}, Stderr: &stderr, SysProcAttr: &syscall.SysProcAttr{
		Cloneflags:  unix.CLONE_NEWUSER | unix.CLONE_NEWNS,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
	}}
	err = cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		ns.Detail, ns.Fix = "cannot create one: "+err.Error(), "see the sysctls user.max_user_namespaces and kernel.unprivileged_userns_clone"
		if msg := userns.Disabled(err).Error(); strings.Contains(msg, ": sudo ") {
			ns.Detail, ns.Fix, _ = strings.Cut(strings.TrimPrefix(msg, userns.ErrSetup.Error()+": "), ": sudo ")
			ns.Fix = "sudo " + ns.Fix
		}
		return []Check{ns}
	}
	ns.OK, ns.Detail = true, "available"
	if err != nil {
		ov.Warning, ov.Detail = true, strings.TrimSpace(stderr.String())+": tug falls back to "
		if ferr := run.FuseUsable(); ferr == nil {
			ov.Detail += "fuse-overlayfs"
			ov.Fix = "native overlayfs needs Linux 5.11 or later and a store on a filesystem with user xattrs (not NFS): --root or [storage] root"
		} else {
			ov.Detail += "a copy of the image per container (slow; no diff or commit)"
			ov.Fix = ferr.Error()
		}
	} else {
		ov.OK, ov.Detail = true, "native overlayfs with userxattr works on "+s.Root()
	}
	return []Check{ns, ov}
}

// ProbeRole is the argv[0] of doctor's probe in a user namespace.
const ProbeRole = "tug-probe"

// Probe is the main of the probe role: it mounts an overlay in the
// directory it is given and makes a whiteout through it, then exits 0;
// otherwise it says what failed and exits 1.
func Probe() {
	if err := run.ProbeOverlay(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// rootOverlayCheck finds overlayfs as the kernel would: registered, or
// a module of the running kernel's, which the first mount loads.
func rootOverlayCheck() Check {
	c := Check{Name: "overlayfs", OK: true, Detail: "available"}
	if b, _ := os.ReadFile("/proc/filesystems"); strings.Contains(string(b), "\toverlay\n") {
		return c
	}
	var uts unix.Utsname
	if unix.Uname(&uts) == nil && overlayModule(filepath.Join("/lib/modules", unix.ByteSliceToString(uts.Release[:]))) {
		c.Detail = "a module, loaded at the first mount"
		return c
	}
	c.OK, c.Detail, c.Fix = false, "not in /proc/filesystems, and no overlay module for this kernel", "sudo modprobe overlay (or install the kernel's modules)"
	return c
}

// overlayModule tells whether dir, a kernel's /lib/modules/RELEASE, has
// overlayfs as a module or built in.
func overlayModule(dir string) bool {
	for _, f := range []string{"modules.dep", "modules.builtin"} {
		if b, err := os.ReadFile(filepath.Join(dir, f)); err == nil && bytes.Contains(b, []byte("/overlay.ko")) {
			return true
		}
	}
	return false
}

// cgroupCheck reports the cgroup layout and manager, and for a rootless
// user what it means for limits: which controllers the user's systemd
// has delegated, and how to delegate the others.
func cgroupCheck(s *store.Store, configured string) Check {
	layout, err := cgroups.Detect("/sys/fs/cgroup")
	c := Check{Name: "cgroups"}
	if err != nil {
		c.Detail = err.Error()
		return c
	}
	manager, err := run.CgroupManager(s, configured)
	if err != nil {
		c.Detail, c.Fix = err.Error(), "set [engine] cgroup_manager = \"cgroupfs\" in the config, or leave it unset"
		return c
	}
	c.Detail = fmt.Sprintf("cgroup %s, %s manager", layout.Version, manager)
	switch {
	case !s.Rootless():
		c.OK = true
	case manager == run.ManagerSystemd:
		delegatedCheck(s, &c)
	case layout.Version == "v2":
		c.Warning = true
		c.Detail += ": resource limits (--memory, --cpus…) are not enforced for rootless containers; tug warns when they are asked for"
		c.Fix = "rootless limits take the user's systemd, which delegates controllers: sudo loginctl enable-linger $USER, or log in through a PAM session (XDG_RUNTIME_DIR set)"
	default:
		c.Warning = true
		c.Detail += ": resource limits (--memory, --cpus…) are not enforced for rootless containers; tug warns when they are asked for"
		c.Fix = "rootless limits need cgroup v2 with controllers delegated to the user (boot with systemd.unified_cgroup_hierarchy=1; systemd's user@.service delegates them)"
	}
	return c
}

// allControllers are the v2 controllers tug's limits use.
const allControllers = "cpu cpuset io memory pids"

// delegatedCheck fills c with what the user's systemd has delegated.
func delegatedCheck(s *store.Store, c *Check) {
	unit, have, err := run.Delegated(s)
	if err != nil {
		c.Warning, c.Detail = true, c.Detail+": "+err.Error()
		return
	}
	var missing []string
	for _, ctrl := range strings.Fields(allControllers) {
		if !slices.Contains(have, ctrl) {
			missing = append(missing, ctrl)
		}
	}
	c.Detail += fmt.Sprintf("; %s delegates %s", unit, strings.Join(have, " "))
	if len(missing) == 0 {
		c.OK = true
		return
	}
	c.Warning = true
	c.Detail += fmt.Sprintf("; limits that need %s are not enforced", strings.Join(missing, ", "))
	c.Fix = "delegate them to every user's systemd: sudo mkdir -p /etc/systemd/system/user@.service.d && " +
		"printf '[Service]\\nDelegate=" + allControllers + "\\n' | sudo tee /etc/systemd/system/user@.service.d/delegate.conf && " +
		"sudo systemctl daemon-reload, then log out and in again"
}

// natChecks are root's network needs: nftables for bridges and
// published ports, and cgroup v2 for the host's fast path to them.
func natChecks() []Check {
	nft := Check{Name: "nftables"}
	if err := tugnet.ProbeNAT(); err != nil {
		nft.Detail, nft.Fix = err.Error()+": bridge networks and published ports need it", "sudo modprobe nf_tables"
	} else {
		nft.OK, nft.Detail = true, "reachable through netlink"
	}
	redirect := Check{Name: "published-port redirect"}
	if root, err := tugnet.RedirectRoot(); err != nil {
		redirect.Warning, redirect.Detail = true, "no cgroup v2 tree: the host's own connections to published ports go through DNAT"
		redirect.Fix = "mount cgroup2 (mount -t cgroup2 none /sys/fs/cgroup/unified)"
	} else {
		redirect.OK, redirect.Detail = true, "connect(2) redirect on "+root
	}
	return []Check{nft, redirect}
}

// runtimeDirCheck wants XDG_RUNTIME_DIR set to a directory of the user.
func runtimeDirCheck(xdg string) Check {
	c := Check{Name: "XDG_RUNTIME_DIR", Warning: true}
	fallback := filepath.Join(os.TempDir(), "tug-"+strconv.Itoa(os.Getuid()))
	var st unix.Stat_t
	switch {
	case xdg == "":
		c.Detail = "not set: tug keeps its runtime state in " + fallback
	case unix.Stat(xdg, &st) != nil || int(st.Uid) != os.Getuid():
		c.Detail = xdg + " is not a directory of this user's: tug keeps its runtime state in " + fallback
	default:
		c.OK, c.Warning, c.Detail = true, false, xdg
		return c
	}
	c.Fix = "log in through systemd-logind (or sudo loginctl enable-linger $USER), or export XDG_RUNTIME_DIR=/run/user/$(id -u) with that directory yours, mode 0700"
	return c
}

// networkChecks wants a user-mode stack and a usable /dev/net/tun.
func networkChecks() []Check {
	stack := Check{Name: "user-mode network"}
	if s, err := tugnet.UserModeStack("bridge"); err != nil {
		stack.Detail, stack.Fix = "neither pasta nor slirp4netns is installed: only --network none and host work", "sudo apt-get install passt"
	} else {
		stack.OK, stack.Detail = true, s+" (the default network of rootless containers)"
	}
	tun := Check{Name: "/dev/net/tun"}
	if f, err := os.OpenFile("/dev/net/tun", os.O_RDWR, 0); err != nil {
		tun.Detail, tun.Fix = err.Error()+": pasta and slirp4netns need it", "sudo chmod 0666 /dev/net/tun (udev's default mode)"
	} else {
		f.Close()
		tun.OK, tun.Detail = true, "usable"
	}
	return []Check{stack, tun}
}

func storeCheck(s *store.Store) Check {
	c := Check{Name: "store", Detail: s.Root()}
	if problems := s.Health(); len(problems) > 0 {
		c.Detail = strings.Join(problems, "; ")
		c.Fix = "remove what is named, with no tug running (rootless: inside tug unshare)"
		return c
	}
	c.OK = true
	return c
}
