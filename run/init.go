package run

// This file is the re-exec child: the only privileged code in tug. The
// parent starts it in new mnt, pid, uts, ipc, net and cgroup namespaces
// (clone flags, so it never runs a single instruction outside them), with
//
//	fd 3…     the N fds of --preserve-fds, already where the container
//	          gets them (N in $_TUG_PRESERVE_FDS; none without it)
//	fd B=3+N  the Spec, as JSON; then, with Release, one byte once the
//	          parent has plumbed the child's network; then EOF
//	fd B+1    the sync pipe: the child writes one JSON initError and
//	          exits if anything fails; a successful execve closes it
//	          (CLOEXEC), so the parent reads EOF and knows the entrypoint
//	          runs
//	fd B+2    with --network container:C, a pidfd of C
//
// The child builds the rootfs, pivots into it, drops privileges and execs
// the entrypoint as pid 1. It runs on one locked OS thread throughout:
// credentials, capabilities and the working directory set here must be
// those of the thread that calls execve.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"tug/internal/userns"
)

// InitRole is the argv[0] that makes tug's main run Init.
const InitRole = "tug-init"

// PreserveEnv, in a re-exec's environment, is how many fds from 3 on it
// hands the container (--preserve-fds).
const PreserveEnv = "_TUG_PRESERVE_FDS"

// childFDs is where a re-exec child's inherited fds begin: past those
// it passes on.
type childFDs int

// inherited reads the layout from the environment.
func inherited() childFDs {
	n, _ := strconv.Atoi(os.Getenv(PreserveEnv))
	return childFDs(3 + max(n, 0))
}

func (b childFDs) spec() int      { return int(b) }
func (b childFDs) sync() int      { return int(b) + 1 }
func (b childFDs) extra() int     { return int(b) + 2 } // init: the netns owner's pidfd; exec: the container's
func (b childFDs) preserved() int { return int(b) - 3 }

// initError is what the child reports before it exits on failure.
type initError struct {
	Code int    `json:"code"` // exit code for tug: 125, 126 or 127
	Msg  string `json:"msg"`
}

func (e *initError) Error() string { return e.Msg }

// ExitCode returns the exit code tug should end with.
func (e *initError) ExitCode() int { return e.Code }

func fail(code int, format string, args ...any) error {
	return &initError{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// Init is the main of the re-exec child. It never returns: it execs the
// entrypoint or, with --init, stays as pid 1 until the entrypoint exits.
func Init() {
	runtime.LockOSThread()
	fds := inherited()
	err := initContainer(fds)
	writeStatus(os.NewFile(uintptr(fds.sync()), "sync"), err)
	os.Exit(errorCode(err))
}

// errorCode is the exit code for a failed start: the error's own (126
// cannot execute, 127 not found), else 125.
func errorCode(err error) int {
	var coder interface{ ExitCode() int }
	if errors.As(err, &coder) {
		return coder.ExitCode()
	}
	return 125
}

func initContainer(fds childFDs) error {
	spec, placed, err := readSpec(fds.spec())
	if err != nil {
		return err
	}
	if err := joinNetwork(spec, fds.extra()); err != nil {
		return err
	}
	if err := enterCgroup(spec); err != nil {
		return err
	}
	// Nothing but stdio may cross into the container: mark every other
	// fd close-on-exec, the spec and sync pipes included, and whatever
	// the runtime or a library opened.
	if err := unix.CloseRange(uint(fds.spec()), ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return fmt.Errorf("mark fds close-on-exec: %w", err)
	}
	// --init execs tug again as the reaper once the rootfs is built:
	// this fd reaches tug's read-only mount (protectedSelf) after
	// pivot_root too.
	self := -1
	if spec.Init {
		if self, err = unix.Open("/proc/self/exe", unix.O_PATH|unix.O_CLOEXEC, 0); err != nil {
			return fmt.Errorf("open tug for --init: %w", err)
		}
	}
	// File modes below are exact; the container gets docker's umask.
	unix.Umask(0)
	if err := buildRootfs(spec); err != nil {
		return err
	}
	unix.Umask(0o022)
	if err := unix.Sethostname([]byte(spec.Hostname)); err != nil {
		return fmt.Errorf("set hostname: %w", err)
	}
	if !spec.HostNetwork && !spec.JoinNetNS {
		if err := loopbackUp(); err != nil {
			return err
		}
	}
	if err := awaitRelease(spec, placed); err != nil {
		return err
	}
	if spec.Tty {
		if err := setupConsole(spec); err != nil {
			return err
		}
	}
	return execEntrypoint(spec, self, fds)
}

// joinNetwork moves this thread, the one that mounts sysfs and execs,
// into another container's network namespace (--network container:C).
// Done first, before sysfs is mounted, so that /sys/class/net shows that
// namespace's links.
func joinNetwork(spec *Spec, pidfd int) error {
	if !spec.JoinNetNS {
		return nil
	}
	// setns(2) on a pidfd: the namespace of exactly the process the
	// parent checked, never of one that reused its pid.
	if err := unix.Setns(pidfd, unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("join the network of the container: %w", err)
	}
	return unix.Close(pidfd)
}

// readSpec reads the spec and returns it with the rest of the pipe, on
// which the parent says when the child's network is plumbed.
func readSpec(fd int) (*Spec, io.Reader, error) {
	f := os.NewFile(uintptr(fd), "spec")
	dec := json.NewDecoder(f)
	var spec Spec
	if err := dec.Decode(&spec); err != nil {
		return nil, nil, fmt.Errorf("read container spec: %w", err)
	}
	return &spec, io.MultiReader(dec.Buffered(), f), nil
}

// enterCgroup moves this thread, the one that will exec, into the
// container's v1 cgroups, then makes them the root of its cgroup
// namespace. A thread that moves itself (writing 0 to "tasks") skips the
// kernel's global threadgroup lock, whose RCU grace period costs a move
// by another process several ms; at exec the whole process is this
// thread, in those cgroups. (On v2 the child was cloned into its
// cgroup and namespace already.)
func enterCgroup(spec *Spec) error {
	for _, tasks := range spec.CgroupTasks {
		if err := os.WriteFile(tasks, []byte("0"), 0); err != nil {
			return fmt.Errorf("enter cgroup %s: %w", filepath.Dir(tasks), err)
		}
	}
	if !spec.UnshareCgroup {
		return nil
	}
	if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
		return fmt.Errorf("new cgroup namespace: %w", err)
	}
	return nil
}

// awaitRelease waits, when told to, until the parent has plumbed the
// container's network. Nothing of the container has run yet.
func awaitRelease(spec *Spec, placed io.Reader) error {
	if !spec.Release {
		return nil
	}
	// skip what follows the JSON (the encoder's newline) up to the byte
	for b := [1]byte{}; b[0] != 1; {
		if _, err := io.ReadFull(placed, b[:]); err != nil {
			return fmt.Errorf("wait for the network: %w", err)
		}
	}
	return nil
}

// buildRootfs mounts the overlay and the container's filesystems, then
// pivots into it.
func buildRootfs(spec *Spec) error {
	root, err := privateOverlay(spec)
	if err != nil {
		return err
	}
	defer unix.Close(root)
	for _, m := range standardMounts(spec) {
		err := mountIn(root, m)
		if m.fstype == "sysfs" && errors.Is(err, unix.EPERM) && spec.UserNS {
			// sysfs belongs to the network namespace: a rootless
			// container in the host's (--network host) binds the host's
			err = bindIn(root, "/sys", "sys", !spec.Privileged)
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
	for _, m := range spec.Mounts {
		if err := bindIn(root, m.Source, m.Destination, m.ReadOnly); err != nil {
			return fmt.Errorf("mount %s: %w", m.Destination, err)
		}
	}
	for _, t := range spec.Tmpfs {
		m := fsMount{strings.TrimPrefix(t.Destination, "/"), "tmpfs", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, t.Options}
		if err := mountIn(root, m); err != nil {
			return err
		}
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

// privateOverlay makes every mount in this mount namespace private, so
// that nothing mounted below propagates back to the host, then mounts the
// overlay and returns an O_PATH fd of it.
func privateOverlay(spec *Spec) (int, error) {
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
// overlay, or with fuse-overlayfs the keeper's mount (already there, in
// the copy of its mount namespace), or the copy driver's directory bound
// on itself, so that it is a mount pivot_root can take.
func mountRootfs(spec *Spec) error {
	switch spec.Driver {
	case DriverFuse:
		return nil
	case DriverCopy:
		if err := unix.Mount(spec.Rootfs, spec.Rootfs, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind the rootfs: %w", err)
		}
		return nil
	}
	return mountOverlay(spec)
}

// mountOverlay mounts the image layers (read-only lowers, top first) and
// the container's upper dir on spec.Rootfs. The lowers are given relative
// to the layer dir, so that the option string stays under the kernel's
// one-page limit for images with many layers.
func mountOverlay(spec *Spec) error {
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

// fsMount is a filesystem mounted inside the rootfs.
type fsMount struct {
	target, fstype, source string
	flags                  uintptr
	data                   string
}

// standardMounts are the filesystems every container gets, in order.
func standardMounts(spec *Spec) []fsMount {
	const nodevs = unix.MS_NOSUID | unix.MS_NOEXEC | unix.MS_NODEV
	shm := "mode=1777,size=65536k"
	if spec.ShmSize > 0 {
		shm = fmt.Sprintf("mode=1777,size=%d", spec.ShmSize)
	}
	sysFlags := uintptr(nodevs | unix.MS_RDONLY)
	if spec.Privileged {
		sysFlags = nodevs
	}
	return []fsMount{
		{"proc", "proc", "proc", nodevs, ""},
		{"dev", "tmpfs", "tmpfs", unix.MS_NOSUID | unix.MS_STRICTATIME, "mode=755,size=65536k"},
		{"dev/pts", "devpts", "devpts", unix.MS_NOSUID | unix.MS_NOEXEC, ptsOptions(spec)},
		{"dev/shm", "tmpfs", "shm", nodevs, shm},
		{"dev/mqueue", "mqueue", "mqueue", nodevs, ""},
		{"sys", "sysfs", "sysfs", sysFlags, ""},
	}
}

// mountCgroups mounts the container's cgroups at /sys/fs/cgroup, as
// docker does, read-only unless --privileged: runtimes that size
// themselves from their limits (the JVM, Go, .NET, Node) find them
// there. The child is in its cgroup namespace already, so each mount's
// root is the container's own cgroup. On v1 the hierarchies sit in a
// tmpfs, made read-only once they are mounted.
func mountCgroups(root int, spec *Spec) error {
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
	dir, err := openIn(root, "sys/fs/cgroup", unix.O_PATH|unix.O_DIRECTORY)
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
	if err := unix.Mount("", fdPath(dir), "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|flags, ""); err != nil {
		return fmt.Errorf("make /sys/fs/cgroup read-only: %w", err)
	}
	return nil
}

// ptsOptions are devpts' mount options: terminals belong to group tty
// (5), unless a single-ID user namespace cannot map it.
func ptsOptions(spec *Spec) string {
	if spec.SingleID {
		return "newinstance,ptmxmode=0666,mode=0620"
	}
	return "newinstance,ptmxmode=0666,mode=0620,gid=5"
}

// setSysctls writes the container's sysctls through its own /proc, which
// belongs to its namespaces; create allowed only namespaced ones.
func setSysctls(root int, sysctls map[string]string) error {
	for k, v := range sysctls {
		fd, err := openIn(root, "proc/sys/"+strings.ReplaceAll(k, ".", "/"), unix.O_WRONLY)
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

// openIn opens rel inside the rootfs with openat2(RESOLVE_IN_ROOT): a
// symlink in the image (a /proc or /dev that is a link to a host path)
// resolves inside the rootfs, never outside it.
func openIn(root int, rel string, flags uint64) (int, error) {
	how := unix.OpenHow{Flags: flags | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS}
	return unix.Openat2(root, rel, &how)
}

// mkdirIn makes the directory rel and its parents inside the rootfs, each
// step resolved inside it, and returns an O_PATH fd of it. A dangling
// symlink on the way is followed, inside the rootfs, as a chroot would.
func mkdirIn(root int, rel string) (int, error) {
	return mkdirInDepth(root, rel, 0)
}

func mkdirInDepth(root int, rel string, depth int) (int, error) {
	if depth > 40 {
		return -1, unix.ELOOP
	}
	rel = strings.Trim(path.Clean("/"+rel), "/")
	if rel == "" {
		rel = "."
	}
	fd, err := openIn(root, rel, unix.O_PATH|unix.O_DIRECTORY)
	if err == nil || rel == "." || !errors.Is(err, unix.ENOENT) {
		return fd, err
	}
	parent, base := path.Split(rel)
	pfd, err := mkdirInDepth(root, parent, depth+1)
	if err != nil {
		return -1, err
	}
	defer unix.Close(pfd)
	if err := unix.Mkdirat(pfd, base, 0o755); err == unix.EEXIST {
		// a dangling symlink: make what it points at, inside the rootfs
		buf := make([]byte, unix.PathMax)
		n, rerr := unix.Readlinkat(pfd, base, buf)
		if rerr != nil {
			return -1, err
		}
		target := string(buf[:n])
		if !path.IsAbs(target) {
			target = path.Join(parent, target)
		}
		return mkdirInDepth(root, target, depth+1)
	} else if err != nil {
		return -1, err
	}
	return openIn(root, rel, unix.O_PATH|unix.O_DIRECTORY)
}

// touchIn makes the file rel inside the rootfs if missing, as a mount
// point for a file bind, and returns an O_PATH fd of it.
func touchIn(root int, rel string) (int, error) {
	rel = strings.Trim(path.Clean("/"+rel), "/")
	fd, err := openIn(root, rel, unix.O_PATH)
	if err == nil || !errors.Is(err, unix.ENOENT) {
		return fd, err
	}
	parent, base := path.Split(rel)
	pfd, err := mkdirIn(root, parent)
	if err != nil {
		return -1, err
	}
	defer unix.Close(pfd)
	f, err := unix.Openat(pfd, base, unix.O_CREAT|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err != nil && err != unix.EEXIST {
		return -1, err
	}
	if err == nil {
		unix.Close(f)
	}
	return openIn(root, rel, unix.O_PATH)
}

// fdPath names an open fd for mount(2), which follows the magic link to
// the very inode that was resolved inside the rootfs.
func fdPath(fd int) string { return fmt.Sprintf("/proc/self/fd/%d", fd) }

func mountIn(root int, m fsMount) error {
	fd, err := mkdirIn(root, m.target)
	if err != nil {
		return fmt.Errorf("mount point /%s: %w", m.target, err)
	}
	defer unix.Close(fd)
	if err := unix.Mount(m.source, fdPath(fd), m.fstype, m.flags, m.data); err != nil {
		return fmt.Errorf("mount %s on /%s: %w", m.fstype, m.target, err)
	}
	return nil
}

// populateDev fills the fresh /dev tmpfs with docker's standard nodes and
// links. The image's own /dev is hidden under the tmpfs, so a /dev/null
// that is a symlink in the image redirects nothing.
func populateDev(root int, spec *Spec) error {
	dev, err := openIn(root, "dev", unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return fmt.Errorf("open /dev: %w", err)
	}
	defer unix.Close(dev)
	rootless := spec.UserNS
	for _, n := range []struct {
		name         string
		major, minor uint32
	}{{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}} {
		if rootless {
			// no mknod in a user namespace: the host's nodes, bound
			if err := bindIn(root, "/dev/"+n.name, "dev/"+n.name, false); err != nil {
				return fmt.Errorf("/dev/%s: %w", n.name, err)
			}
			continue
		}
		if err := unix.Mknodat(dev, n.name, unix.S_IFCHR|0o666, int(unix.Mkdev(n.major, n.minor))); err != nil {
			return fmt.Errorf("mknod /dev/%s: %w", n.name, err)
		}
	}
	for name, target := range map[string]string{
		"ptmx": "pts/ptmx", "fd": "/proc/self/fd", "stdin": "/proc/self/fd/0",
		"stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2", "core": "/proc/kcore",
	} {
		if err := unix.Symlinkat(target, dev, name); err != nil {
			return fmt.Errorf("link /dev/%s: %w", name, err)
		}
	}
	for _, d := range spec.Devices {
		if err := makeDevice(root, d); err != nil {
			return err
		}
	}
	if spec.Privileged {
		if err := hostDevices(dev); err != nil {
			return err
		}
	}
	return nil
}

// makeDevice makes a --device node at its path in the container.
func makeDevice(root int, d Device) error {
	dir, base := path.Split(strings.TrimPrefix(path.Clean(d.Path), "/"))
	pfd, err := mkdirIn(root, dir)
	if err != nil {
		return fmt.Errorf("--device %s: %w", d.Path, err)
	}
	defer unix.Close(pfd)
	mode := d.Mode | unix.S_IFCHR
	if d.Type == 'b' {
		mode = d.Mode | unix.S_IFBLK
	}
	unix.Unlinkat(pfd, base, 0)
	if err := unix.Mknodat(pfd, base, mode, int(unix.Mkdev(d.Major, d.Minor))); err != nil {
		return fmt.Errorf("--device %s: %w", d.Path, err)
	}
	return nil
}

// hostDevices copies the host's top-level device nodes into /dev, for
// --privileged, as docker does.
func hostDevices(dev int) error {
	entries, err := os.ReadDir("/dev")
	if err != nil {
		return err
	}
	for _, e := range entries {
		var st unix.Stat_t
		if unix.Lstat("/dev/"+e.Name(), &st) != nil {
			continue
		}
		if t := st.Mode & unix.S_IFMT; t != unix.S_IFCHR && t != unix.S_IFBLK {
			continue
		}
		if e.Name() == "ptmx" || e.Name() == "console" || e.Name() == "tty" {
			continue // the container's own
		}
		unix.Unlinkat(dev, e.Name(), 0)
		unix.Mknodat(dev, e.Name(), st.Mode, int(st.Rdev))
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
	fd, err := openIn(root, strings.TrimPrefix(p, "/"), unix.O_PATH)
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
		err = unix.Mount("tmpfs", fdPath(fd), "tmpfs", unix.MS_RDONLY, "size=0")
	} else {
		err = unix.Mount("/dev/null", fdPath(fd), "", unix.MS_BIND, "")
	}
	if err != nil {
		return fmt.Errorf("mask %s: %w", p, err)
	}
	return nil
}

// readonlyPath makes p read-only by binding it onto itself read-only.
func readonlyPath(root int, p string) error {
	fd, err := openIn(root, strings.TrimPrefix(p, "/"), unix.O_PATH)
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

// loopbackUp brings lo up in the container's fresh network namespace.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("bring lo up: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	ifr.SetUint16(unix.IFF_UP | unix.IFF_LOOPBACK | unix.IFF_RUNNING)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring lo up: %w", err)
	}
	return nil
}

// execEntrypoint resolves the user and the command inside the container,
// drops privileges and execs it, or with --init execs the reaper (tug
// at self) that starts it.
func execEntrypoint(spec *Spec, self int, fds childFDs) error {
	id, err := containerUser(spec.User)
	if err != nil {
		return fail(125, "%s", err)
	}
	env := withHome(spec.Env, id.Home)
	if err := enterWorkdir(spec.Cwd); err != nil {
		return err
	}
	exe, err := lookPath(spec.Args[0], env)
	if err != nil {
		return err
	}
	if err := dropCapabilities(spec.Caps); err != nil {
		return err
	}
	if err := processSettings(spec); err != nil {
		return err
	}
	if spec.NoNewPrivs {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("set no_new_privs: %w", err)
		}
	}
	// Seccomp goes on last but for the user switch and the exec, which
	// the profiles allow; with CAP_SYS_ADMIN still effective it needs no
	// no_new_privs.
	if err := loadSeccomp(spec.Seccomp); err != nil {
		return err
	}
	if spec.Init {
		// tug's init stays root, with the allowed set only; the
		// entrypoint gets the user through the fork's credentials.
		if err := setCaps(spec.Caps, true); err != nil {
			return err
		}
		return execReaper(self, fds, reaperSpec{Exe: exe, Args: spec.Args, Env: env, ID: id, Tty: spec.Tty})
	}
	if err := setIdentity(id, spec.Caps); err != nil {
		return err
	}
	err = unix.Exec(exe, spec.Args, env)
	return execError(spec.Args[0], err)
}

// processSettings applies --ulimit and --oom-score-adj to this process,
// which the entrypoint inherits.
func processSettings(spec *Spec) error {
	for _, r := range spec.Rlimits {
		if err := unix.Setrlimit(r.Resource, &unix.Rlimit{Cur: r.Soft, Max: r.Hard}); err != nil {
			var cur unix.Rlimit
			unix.Getrlimit(r.Resource, &cur)
			return fail(125, "--ulimit: cannot set limit %d to %d:%d (the hard limit here is %d): %s", r.Resource, r.Soft, r.Hard, cur.Max, err)
		}
	}
	if spec.OOMScoreAdj != 0 {
		if err := os.WriteFile("/proc/self/oom_score_adj", []byte(strconv.Itoa(spec.OOMScoreAdj)), 0); err != nil {
			return fail(125, "--oom-score-adj: %s", err)
		}
	}
	return nil
}

// containerUser resolves -u with the container's own /etc/passwd and
// /etc/group: after pivot_root they cannot lead outside the rootfs.
func containerUser(user string) (Identity, error) {
	var passwd, group io.Reader
	if f, err := os.Open("/etc/passwd"); err == nil {
		defer f.Close()
		passwd = f
	}
	if f, err := os.Open("/etc/group"); err == nil {
		defer f.Close()
		group = f
	}
	return resolveUser(user, passwd, group)
}

// withHome adds HOME from the passwd entry unless the env sets it.
func withHome(env []string, home string) []string {
	for _, kv := range env {
		if strings.HasPrefix(kv, "HOME=") {
			return env
		}
	}
	return append(env, "HOME="+home)
}

// enterWorkdir changes to the working dir, creating it if missing, as
// docker does for -w.
func enterWorkdir(dir string) error {
	if dir == "" {
		dir = "/"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail(125, "working directory %s: %s", dir, errors.Unwrap(err))
	}
	if err := unix.Chdir(dir); err != nil {
		return fail(125, "working directory %s: %s", dir, err)
	}
	return nil
}

// lookPath finds the command in the container's PATH; not found is 127
// and not executable is 126, as in docker.
func lookPath(cmd string, env []string) (string, error) {
	if strings.Contains(cmd, "/") {
		return cmd, checkExecutable(cmd)
	}
	pathVar := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			pathVar = v
		}
	}
	var denied error
	for _, dir := range filepath.SplitList(pathVar) {
		p := filepath.Join(dir, cmd)
		err := checkExecutable(p)
		if err == nil {
			return p, nil
		}
		var ie *initError
		if errors.As(err, &ie) && ie.Code == 126 && denied == nil {
			denied = err
		}
	}
	if denied != nil {
		return "", denied
	}
	return "", fail(127, "exec %q: executable file not found in $PATH", cmd)
}

func checkExecutable(p string) error {
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		return fail(127, "exec %q: no such file or directory", p)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return fail(126, "exec %q: is a directory", p)
	}
	if st.Mode&0o111 == 0 {
		return fail(126, "exec %q: permission denied", p)
	}
	return nil
}

func execError(cmd string, err error) error {
	switch {
	case errors.Is(err, unix.ENOENT):
		return fail(127, "exec %q: no such file or directory", cmd)
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.ENOEXEC), errors.Is(err, unix.EISDIR):
		return fail(126, "exec %q: %s", cmd, err)
	}
	return fail(126, "exec %q: %s", cmd, err)
}

// dropCapabilities removes every capability outside caps from the
// bounding set and clears the ambient set; the process can never regain
// them, whatever it execs.
func dropCapabilities(caps []string) error {
	mask, err := capMask(caps)
	if err != nil {
		return fail(125, "%s", err)
	}
	for c := uintptr(0); c <= lastCap(); c++ {
		if mask&(1<<c) != 0 {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, c, 0, 0, 0); err != nil {
			return fmt.Errorf("drop capability %d: %w", c, err)
		}
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	return nil
}

// setIdentity switches to the container user on this thread and sets the
// capabilities it keeps: the allowed set, effective and permitted, for
// root; none for anyone else (setresuid away from 0 clears them). The
// inheritable set is always empty.
func setIdentity(id Identity, caps []string) error {
	groups := id.Groups
	if groups == nil {
		groups = []int{}
	}
	// with a single-ID mapping setgroups is denied: the user keeps none
	if err := unix.Setgroups(groups); err != nil && !(errors.Is(err, unix.EPERM) && userns.SetgroupsDenied()) {
		return fmt.Errorf("setgroups: %w", err)
	}
	// The raw syscalls change only this thread, the one that execs.
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(id.GID), uintptr(id.GID), uintptr(id.GID)); e != 0 {
		return fmt.Errorf("setresgid %d: %w", id.GID, e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(id.UID), uintptr(id.UID), uintptr(id.UID)); e != 0 {
		return fmt.Errorf("setresuid %d: %w", id.UID, e)
	}
	return setCaps(caps, id.UID == 0)
}

// setCaps sets this thread's effective and permitted capabilities to the
// allowed set (root) or to nothing, and its inheritable set to nothing.
func setCaps(caps []string, root bool) error {
	var mask uint64
	if root {
		mask, _ = capMask(caps)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var cur [2]unix.CapUserData
	if err := unix.Capget(&hdr, &cur[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	// Nothing can grant what tug itself lacks (a host may withhold, say,
	// CAP_SYS_RESOURCE even from root).
	mask &= uint64(cur[0].Permitted) | uint64(cur[1].Permitted)<<32
	data := [2]unix.CapUserData{
		{Effective: uint32(mask), Permitted: uint32(mask)},
		{Effective: uint32(mask >> 32), Permitted: uint32(mask >> 32)},
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	return nil
}

// exitStatus maps a wait status to a shell-style code: 128+N for signal N.
func exitStatus(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}
