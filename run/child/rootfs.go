package child

// The container's root filesystem: the overlay (or the driver's
// rootfs), then pivot_root into it.

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"tug/run/childspec"

	"golang.org/x/sys/unix"
)

// buildRootfs mounts the overlay and the container's filesystems, then
// pivots into it.
func buildRootfs(spec *childspec.Spec) error {
	root, err := PrivateOverlay(spec)
	if err != nil {
		return err
	}
	defer unix.Close(root)
	// write(2) to the image's /etc/passwd and /etc/group, inside the
	// rootfs, before anything is mounted over it
	if err := addKeptUser(root, spec.KeepID); err != nil {
		return err
	}
	for _, m := range standardMounts(spec) {
		err := mountIn(root, m)
		if m.fstype == "sysfs" && errors.Is(err, unix.EPERM) && spec.UserNS {
			// sysfs belongs to the network namespace: a rootless
			// container in the host's (--network host) binds the host's
			err = bindIn(root, "/sys", "sys", !spec.Privileged)
		}
		if m.fstype == "proc" && errors.Is(err, unix.EPERM) && spec.UserNS && spec.HostPID {
			// so does proc to the pid namespace: a rootless container
			// in the host's (--pid host) binds the host's /proc
			err = bindIn(root, "/proc", "proc", false)
		}
		if err != nil {
			return err
		}
	}
	if err := mountCgroups(root, spec); err != nil {
		return err
	}
	if err := populateDev(root, spec); err != nil {
		return err
	}
	if err := userMounts(root, spec); err != nil {
		return err
	}
	if err := setSysctls(root, spec.Sysctls); err != nil {
		return err
	}
	for _, p := range spec.MaskedPaths {
		if err := maskPath(root, p); err != nil {
			return err
		}
	}
	for _, p := range spec.ReadonlyPaths {
		if err := readonlyPath(root, p); err != nil {
			return err
		}
	}
	if err := pivotRoot(root); err != nil {
		return err
	}
	if spec.ReadOnly {
		// Only the rootfs itself: /dev, /proc and the binds keep their
		// own flags, as with docker's --read-only.
		if err := unix.MountSetattr(unix.AT_FDCWD, "/", 0, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}); err != nil {
			return fmt.Errorf("make rootfs read-only: %w", err)
		}
	}
	return nil
}

// PrivateOverlay makes every mount in this mount namespace private, so
// that nothing mounted below propagates back to the host, then mounts the
// overlay and returns an O_PATH fd of it.
func PrivateOverlay(spec *childspec.Spec) (int, error) {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return -1, fmt.Errorf("make / private: %w", err)
	}
	if err := mountRootfs(spec); err != nil {
		return -1, err
	}
	root, err := unix.Open(spec.Rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open rootfs: %w", err)
	}
	return root, nil
}

// mountRootfs makes spec.Rootfs the container's root filesystem: the
// overlay, or after tug mount the host's (already there, in the copy of
// the parent's mount namespace), or the copy driver's directory or the
// keeper's fuse-overlayfs mount bound on itself, so that it is a mount
// pivot_root can take (one copied into the mount namespace of a nested
// user namespace, --userns keep-id, is locked, which it refuses).
func mountRootfs(spec *childspec.Spec) error {
	switch {
	case spec.Premounted:
		return nil
	case spec.Driver == childspec.DriverCopy || spec.Driver == childspec.DriverFuse:
		if err := unix.Mount(spec.Rootfs, spec.Rootfs, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind the rootfs: %w", err)
		}
		return nil
	}
	return MountOverlay(spec)
}

// MountOverlay mounts the image layers (read-only lowers, top first) and
// the container's upper dir on spec.Rootfs. The lowers are given relative
// to the layer dir, so that the option string stays under the kernel's
// one-page limit for images with many layers: it chdirs there, so the
// caller's thread must have a filesystem context of its own.
func MountOverlay(spec *childspec.Spec) error {
	if err := unix.Chdir(spec.LayerDir); err != nil {
		return fmt.Errorf("chdir to layers: %w", err)
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", strings.Join(spec.Lower, ":"), spec.Upper, spec.Work)
	if spec.UserNS {
		// trusted.* xattrs are root's; in a user namespace overlayfs
		// keeps its whiteouts and opaque marks in user.overlay.*
		opts += ",userxattr"
	}
	if len(opts) >= unix.Getpagesize() {
		return fmt.Errorf("image has too many layers (%d) for one overlay mount", len(spec.Lower))
	}
	if err := unix.Mount("overlay", spec.Rootfs, "overlay", 0, opts); err != nil {
		return fmt.Errorf("mount overlay: %w", err)
	}
	return nil
}

// pivotRoot makes the rootfs the root of this mount namespace and
// detaches the old root, so that no host path stays reachable.
func pivotRoot(root int) error {
	if err := unix.Fchdir(root); err != nil {
		return fmt.Errorf("chdir to rootfs: %w", err)
	}
	// pivot_root(".", ".") stacks the old root on top of the new one;
	// the umount below then removes it, with no temp dir needed.
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	// The old root is still mounted with shared or slave peers; make it
	// private before detaching it, so the unmount cannot propagate.
	if err := unix.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make old root slave: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach old root: %w", err)
	}
	return unix.Chdir("/")
}

// userMounts makes the binds (-v, --mount) and the tmpfs mounts
// (--tmpfs, --read-only's /run and /tmp) parents first, whichever kind
// each is, as podman sorts them: a bind at /run/x must go on the tmpfs
// at /run, not under it.
func userMounts(root int, spec *childspec.Spec) error {
	type step struct {
		dest  string
		mount func() error
	}
	var steps []step
	for _, m := range spec.Mounts {
		steps = append(steps, step{m.Destination, func() error {
			if err := bindIn(root, m.Source, m.Destination, m.ReadOnly); err != nil {
				return fmt.Errorf("mount %s: %w", m.Destination, err)
			}
			return nil
		}})
	}
	for _, t := range spec.Tmpfs {
		steps = append(steps, step{t.Destination, func() error {
			return mountIn(root, fsMount{strings.TrimPrefix(t.Destination, "/"), "tmpfs", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, t.Options})
		}})
	}
	depth := func(p string) int { return strings.Count(filepath.Clean(p), "/") }
	slices.SortStableFunc(steps, func(a, b step) int { return depth(a.dest) - depth(b.dest) })
	for _, st := range steps {
		if err := st.mount(); err != nil {
			return err
		}
	}
	return nil
}
