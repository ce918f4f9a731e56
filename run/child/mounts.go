package child

// The filesystems mounted in the rootfs: proc, /dev, sysfs, cgroups,
// binds, tmpfs, masked and read-only paths. Every mount point is
// resolved inside the rootfs (resolve.go), never through a host path.

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"tug/run/childspec"

	"golang.org/x/sys/unix"
)

// fsMount is a filesystem mounted inside the rootfs.
type fsMount struct {
	target, fstype, source string
	flags                  uintptr
	data                   string
}

// standardMounts are the filesystems every container gets, in order.
func standardMounts(spec *childspec.Spec) []fsMount {
	const nodevs = unix.MS_NOSUID | unix.MS_NOEXEC | unix.MS_NODEV
	shm := "mode=1777,size=65536k"
	if spec.ShmSize > 0 {
		shm = fmt.Sprintf("mode=1777,size=%d", spec.ShmSize)
	}
	sysFlags := uintptr(nodevs | unix.MS_RDONLY)
	if spec.Privileged {
		sysFlags = nodevs
	}
	mounts := []fsMount{
		{"proc", "proc", "proc", nodevs, ""},
		{"dev", "tmpfs", "tmpfs", unix.MS_NOSUID | unix.MS_STRICTATIME, "mode=755,size=65536k"},
		{"dev/pts", "devpts", "devpts", unix.MS_NOSUID | unix.MS_NOEXEC, ptsOptions(spec)},
		{"dev/shm", "tmpfs", "shm", nodevs, shm},
		{"dev/mqueue", "mqueue", "mqueue", nodevs, ""},
		{"sys", "sysfs", "sysfs", sysFlags, ""},
	}
	if spec.NoShm {
		mounts = slices.DeleteFunc(mounts, func(m fsMount) bool { return m.target == "dev/shm" })
	}
	return mounts
}

// mountCgroups mounts the container's cgroups at /sys/fs/cgroup, as
// docker does, read-only unless --privileged: runtimes that size
// themselves from their limits (the JVM, Go, .NET, Node) find them
// there. The child is in its cgroup namespace already, so each mount's
// root is the container's own cgroup. On v1 the hierarchies sit in a
// tmpfs, made read-only once they are mounted.
func mountCgroups(root int, spec *childspec.Spec) error {
	if len(spec.CgroupMounts) == 0 {
		return nil
	}
	flags := uintptr(unix.MS_NOSUID | unix.MS_NOEXEC | unix.MS_NODEV)
	if !spec.Privileged {
		flags |= unix.MS_RDONLY
	}
	if m := spec.CgroupMounts[0]; m.FSType == "cgroup2" {
		err := mountIn(root, fsMount{"sys/fs/cgroup", "cgroup2", "cgroup2", flags, ""})
		if err != nil && spec.UserNS {
			return nil // a rootless container's view is a courtesy
		}
		return err
	}
	if err := mountIn(root, fsMount{"sys/fs/cgroup", "tmpfs", "tmpfs", unix.MS_NOSUID | unix.MS_NOEXEC | unix.MS_NODEV, "mode=755"}); err != nil {
		return err
	}
	dir, err := OpenIn(root, "sys/fs/cgroup", unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return fmt.Errorf("open /sys/fs/cgroup: %w", err)
	}
	defer unix.Close(dir)
	for _, m := range spec.CgroupMounts {
		if err := mountIn(root, fsMount{"sys/fs/cgroup/" + m.Dir, m.FSType, "cgroup", flags, m.Options}); err != nil {
			return err
		}
		for _, l := range m.Links {
			if err := unix.Symlinkat(m.Dir, dir, l); err != nil {
				return fmt.Errorf("link /sys/fs/cgroup/%s: %w", l, err)
			}
		}
	}
	if spec.Privileged {
		return nil
	}
	if err := unix.Mount("", FDPath(dir), "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|flags, ""); err != nil {
		return fmt.Errorf("make /sys/fs/cgroup read-only: %w", err)
	}
	return nil
}

// ptsOptions are devpts' mount options: terminals belong to group tty
// (5), unless a single-ID user namespace cannot map it.
func ptsOptions(spec *childspec.Spec) string {
	if spec.SingleID {
		return "newinstance,ptmxmode=0666,mode=0620"
	}
	return "newinstance,ptmxmode=0666,mode=0620,gid=5"
}

// setSysctls writes the container's sysctls through its own /proc, which
// belongs to its namespaces; create allowed only namespaced ones.
func setSysctls(root int, sysctls map[string]string) error {
	for k, v := range sysctls {
		fd, err := OpenIn(root, "proc/sys/"+strings.ReplaceAll(k, ".", "/"), unix.O_WRONLY)
		if err != nil {
			return fail(125, "--sysctl %s: %s", k, err)
		}
		_, err = unix.Write(fd, []byte(v))
		unix.Close(fd)
		if err != nil {
			return fail(125, "--sysctl %s=%s: %s", k, v, err)
		}
	}
	return nil
}

func mountIn(root int, m fsMount) error {
	fd, err := mkdirIn(root, m.target)
	if err != nil {
		return fmt.Errorf("mount point /%s: %w", m.target, err)
	}
	defer unix.Close(fd)
	if err := unix.Mount(m.source, FDPath(fd), m.fstype, m.flags, m.data); err != nil {
		return fmt.Errorf("mount %s on /%s: %w", m.fstype, m.target, err)
	}
	return nil
}

// bindIn bind-mounts the host path src (recursively) on dst inside the
// rootfs, read-only if asked, submounts included, with private
// propagation. It uses the fd-based mount API: the tree is cloned from
// src, its attributes set, and moved onto the fd of dst resolved inside
// the rootfs.
func bindIn(root int, src, dst string, readOnly bool) error {
	tree, err := unix.OpenTree(unix.AT_FDCWD, src, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
	if err != nil {
		return fmt.Errorf("open %s: %w", src, err)
	}
	defer unix.Close(tree)
	var st unix.Stat_t
	if err := unix.Fstat(tree, &st); err != nil {
		return fmt.Errorf("stat %s: %w", src, err)
	}
	var target int
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		target, err = mkdirIn(root, dst)
	} else {
		target, err = touchIn(root, dst)
	}
	if err != nil {
		return fmt.Errorf("mount point %s: %w", dst, err)
	}
	defer unix.Close(target)
	return moveTree(tree, target, readOnly)
}

// moveTree sets a detached tree's attributes and moves it onto target.
func moveTree(tree, target int, readOnly bool) error {
	attr := unix.MountAttr{Propagation: unix.MS_PRIVATE}
	if readOnly {
		attr.Attr_set = unix.MOUNT_ATTR_RDONLY
	}
	if err := unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &attr); err != nil {
		return fmt.Errorf("set mount attributes: %w", err)
	}
	if err := unix.MoveMount(tree, "", target, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return fmt.Errorf("move mount: %w", err)
	}
	return nil
}

// maskPath hides p: an empty read-only tmpfs over a directory, /dev/null
// over a file. A path the kernel does not have is skipped.
func maskPath(root int, p string) error {
	fd, err := OpenIn(root, strings.TrimPrefix(p, "/"), unix.O_PATH)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("mask %s: %w", p, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("mask %s: %w", p, err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		err = unix.Mount("tmpfs", FDPath(fd), "tmpfs", unix.MS_RDONLY, "size=0")
	} else {
		err = unix.Mount("/dev/null", FDPath(fd), "", unix.MS_BIND, "")
	}
	if err != nil {
		return fmt.Errorf("mask %s: %w", p, err)
	}
	return nil
}

// readonlyPath makes p read-only by binding it onto itself read-only.
func readonlyPath(root int, p string) error {
	fd, err := OpenIn(root, strings.TrimPrefix(p, "/"), unix.O_PATH)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("make %s read-only: %w", p, err)
	}
	defer unix.Close(fd)
	tree, err := unix.OpenTree(fd, "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE|unix.AT_EMPTY_PATH)
	if err != nil {
		return fmt.Errorf("make %s read-only: %w", p, err)
	}
	defer unix.Close(tree)
	if err := moveTree(tree, fd, true); err != nil {
		return fmt.Errorf("make %s read-only: %w", p, err)
	}
	return nil
}
