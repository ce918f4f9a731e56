package run

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"

	"tug/run/childspec"
	"tug/store"
)

// A container's root filesystem is an overlay of its image's layers and
// its own upper dir. Root mounts overlayfs. A rootless user mounts it
// in its user namespace (Linux 5.11 and later, with userxattr) where the
// store's filesystem allows; where it does not (an NFS home, say), the
// FUSE implementation fuse-overlayfs serves the same layers and upper
// dir; where neither works, each container gets a full copy of its
// image's files ("copy": slow to create, but it works anywhere). The
// driver is chosen when the container is created and kept with it.

// The storage drivers, the values of the child's Spec.Driver.
const (
	DriverOverlay = childspec.DriverOverlay
	DriverFuse    = childspec.DriverFuse
	DriverCopy    = childspec.DriverCopy
)

// StorageDriver resolves the driver new containers get: the one forced
// (podman's --storage-driver: overlay, or vfs for tug's copy, for root
// too), else overlay for root; for a rootless user the one the config's
// [rootless] storage_driver asks for, or with "auto" the first that
// works here, found once per boot and remembered in the run root.
func StorageDriver(s *store.Store, configured, forced string) (string, error) {
	switch forced {
	case "":
	case DriverOverlay:
		if s.Rootless() {
			return forced, nativeOverlay(s)
		}
		return forced, nil
	case "vfs", DriverCopy:
		return DriverCopy, nil
	default:
		return "", fmt.Errorf("--storage-driver %q: want overlay or vfs", forced)
	}
	if !s.Rootless() {
		return DriverOverlay, nil
	}
	want := configured
	switch want {
	case DriverOverlay, DriverCopy:
		return want, nil
	case DriverFuse:
		return want, FuseUsable()
	case "", "auto":
	default:
		return "", fmt.Errorf("[rootless] storage_driver %q: want auto, overlay, fuse-overlayfs or copy", want)
	}
	cache := filepath.Join(s.RunRoot(), "storage-driver")
	if b, err := os.ReadFile(cache); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	driver := DriverCopy
	if nativeOverlay(s) == nil {
		driver = DriverOverlay
	} else if FuseUsable() == nil {
		driver = DriverFuse
	}
	return driver, store.ReplaceFile(cache, []byte(driver+"\n"), 0o600)
}

// nativeOverlay mounts an overlay in the store's filesystem, as the
// containers' would be, in a mount namespace private to a thread that
// dies afterwards.
func nativeOverlay(s *store.Store) error {
	dir, done, err := s.TempDir()
	if err != nil {
		return err
	}
	defer done()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with its namespace
		if err := unix.Unshare(unix.CLONE_FS | unix.CLONE_NEWNS); err != nil {
			errc <- err
			return
		}
		errc <- ProbeOverlay(dir)
	}()
	return <-errc
}

// FuseUsable tells whether fuse-overlayfs can run: the program, and a
// /dev/fuse this user may open.
func FuseUsable() error {
	if _, err := fuseProgram(); err != nil {
		return err
	}
	f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("fuse-overlayfs: %w (sudo chmod 0666 /dev/fuse, udev's default)", err)
	}
	return f.Close()
}

func fuseProgram() (string, error) {
	for _, p := range []string{"/usr/bin/fuse-overlayfs", "/usr/local/bin/fuse-overlayfs"} {
		if unix.Access(p, unix.X_OK) == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("fuse-overlayfs"); err == nil {
		return p, nil
	}
	return "", errors.New("fuse-overlayfs is not installed (sudo apt-get install fuse-overlayfs)")
}

// mountFuse mounts the container's layers and upper dir on spec.Rootfs
// with fuse-overlayfs, in the mount namespace of the calling thread. The
// daemon lives outside the container (it is the keeper's child, in the
// host's pid namespace) and ends when the mount goes: at unmountRootfs,
// or with the keeper's mount namespace should the keeper die.
func mountFuse(spec *Spec) error {
	prog, err := fuseProgram()
	if err != nil {
		return err
	}
	lowers := make([]string, len(spec.Lower))
	for i, l := range spec.Lower {
		lowers[i] = l
		if !filepath.IsAbs(l) {
			lowers[i] = filepath.Join(spec.LayerDir, l)
		}
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", strings.Join(lowers, ":"), spec.Upper, spec.Work)
	if k := spec.KeepID; k != nil { // the files as the container's own namespace maps them
		opts += ",uidmapping=" + fuseIDMapping(keepIDMap(k.UID, k.UIDCount)) + ",gidmapping=" + fuseIDMapping(keepIDMap(k.GID, k.GIDCount))
	}
	if out, err := exec.Command(prog, "-o", opts, spec.Rootfs).CombinedOutput(); err != nil {
		return fmt.Errorf("fuse-overlayfs: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// copyRootfs fills spec.Rootfs, once, with the image's files (the copy
// driver): the layers applied bottom up, whiteouts deleting what they
// hide. The container then writes to it directly.
func copyRootfs(s *store.Store, spec *Spec) error {
	done := filepath.Join(filepath.Dir(spec.Rootfs), "copied")
	if _, err := os.Stat(done); err == nil {
		return nil
	}
	if err := os.RemoveAll(spec.Rootfs); err != nil {
		return err
	}
	if err := os.MkdirAll(spec.Rootfs, 0o755); err != nil {
		return err
	}
	layers := make([]string, 0, len(spec.Lower))
	for i := len(spec.Lower) - 1; i >= 0; i-- {
		if filepath.IsAbs(spec.Lower[i]) { // an image with no layers
			continue
		}
		layers = append(layers, spec.Lower[i])
	}
	if err := s.Flatten(layers, spec.Rootfs); err != nil {
		return err
	}
	return os.WriteFile(done, nil, 0o600)
}

// prepareRootfs is the keeper's part of a container's root filesystem
// before the child starts: nothing for overlay (the child mounts it),
// the FUSE mount, or the copy.
func prepareRootfs(s *store.Store, spec *Spec) error {
	switch spec.Driver {
	case DriverFuse:
		return mountFuse(spec)
	case DriverCopy:
		return copyRootfs(s, spec)
	}
	return nil
}

// releaseRootfs undoes prepareRootfs once the container is gone.
func releaseRootfs(spec *Spec) {
	if spec.Driver == DriverFuse {
		unix.Unmount(spec.Rootfs, unix.MNT_DETACH)
	}
}

// ProbeOverlay mounts an overlay as a rootless container's would (with
// userxattr) in dir and makes a whiteout through it: the test of
// whether native overlayfs works in a user namespace on this store.
func ProbeOverlay(dir string) error {
	for _, d := range []string{"lower", "upper", "work", "merged"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			return err
		}
		// removed from here, in the namespace: overlayfs makes work/work
		// mode 0, which the user outside cannot empty
		defer os.RemoveAll(filepath.Join(dir, d))
	}
	if err := os.WriteFile(filepath.Join(dir, "lower", "f"), nil, 0o600); err != nil {
		return err
	}
	opts := fmt.Sprintf("lowerdir=%s/lower,upperdir=%s/upper,workdir=%s/work,userxattr", dir, dir, dir)
	if err := unix.Mount("overlay", filepath.Join(dir, "merged"), "overlay", 0, opts); err != nil {
		return fmt.Errorf("mount overlay: %w", err)
	}
	defer unix.Unmount(filepath.Join(dir, "merged"), unix.MNT_DETACH)
	if err := os.Remove(filepath.Join(dir, "merged", "f")); err != nil {
		return fmt.Errorf("whiteout through the overlay: %w", err)
	}
	return nil
}
