package store

// Volumes of the local driver with options (volume create --opt
// type=…,device=…,o=…, docker's names): the filesystem they name is
// mounted on the volume's _data while containers use it. The mount is
// made in the caller's mount namespace: the host's for root, a tug's
// own for a rootless one (each rootless tug has a mount namespace of
// its own, which its containers copy).

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/moby/sys/mount"
	"golang.org/x/sys/unix"
)

// volumeOptionKeys are the local driver's options, as docker's has them.
var volumeOptionKeys = []string{"type", "device", "o"}

// validateVolumeOptions applies docker's rules to the local driver's
// options: known keys, type and device together (o needs both), and a
// bind's device an existing absolute host path.
func validateVolumeOptions(opts map[string]string) error {
	if len(opts) == 0 {
		return nil
	}
	for k := range opts {
		if !slices.Contains(volumeOptionKeys, k) {
			return fmt.Errorf("invalid option %q: the local driver takes type, device and o", k)
		}
	}
	if opts["type"] == "" || opts["device"] == "" {
		return errors.New("missing required option: the local driver needs both type and device (o needs them too)")
	}
	if isBind(opts["o"]) {
		dev := opts["device"]
		if !filepath.IsAbs(dev) {
			return fmt.Errorf("bind device %q: want an absolute host path", dev)
		}
		if _, err := os.Stat(dev); err != nil {
			return fmt.Errorf("bind device: %w", err)
		}
	}
	return nil
}

// isBind tells whether the mount options o ask for a bind mount.
func isBind(o string) bool {
	for _, f := range strings.Split(o, ",") {
		if f == "bind" || f == "rbind" {
			return true
		}
	}
	return false
}

// HasFilesystem tells whether v names a filesystem to mount on its data dir
// (local driver options); other volumes are plain directories.
func (v *Volume) HasFilesystem() bool { return v.Options["type"] != "" }

// MountVolume mounts v's filesystem on its data dir in the calling
// thread's mount namespace, unless it is mounted there already; a volume
// without options needs nothing. Mounts and unmounts of the host's are
// made under LockVolumes.
func (s *Store) MountVolume(v *Volume) error {
	if !v.HasFilesystem() {
		return nil
	}
	data := s.VolumeData(v.Name)
	if mounted, err := isMountRoot(data); err != nil || mounted {
		return err
	}
	o := v.Options["o"]
	if err := mount.Mount(v.Options["device"], data, v.Options["type"], o); err != nil {
		msg := err.Error()
		if pw := optionValue(o, "password"); pw != "" {
			msg = strings.ReplaceAll(msg, "password="+pw, "password=********")
		}
		return fmt.Errorf("mount volume %s: %s", v.Name, msg)
	}
	return nil
}

// optionValue is the value of key=value in the comma list o.
func optionValue(o, key string) string {
	for _, f := range strings.Split(o, ",") {
		if k, v, ok := strings.Cut(f, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// UnmountVolume detaches whatever is mounted on volume name's data dir
// in the calling thread's mount namespace.
func (s *Store) UnmountVolume(name string) error {
	return unmountAll(s.VolumeData(name))
}

// unmountAll detaches every mount stacked on dir, so that nothing
// removed below it can reach a mounted filesystem (a bind of a host dir).
func unmountAll(dir string) error {
	for range 16 {
		mounted, err := isMountRoot(dir)
		if err != nil || !mounted {
			return err
		}
		if err := unix.Unmount(dir, unix.MNT_DETACH|unix.UMOUNT_NOFOLLOW); err != nil {
			return fmt.Errorf("unmount %s: %w", dir, err)
		}
	}
	return fmt.Errorf("unmount %s: still mounted", dir)
}

// isMountRoot tells whether path is the root of a mount (statx's
// STATX_ATTR_MOUNT_ROOT, Linux 5.8); a missing path is not.
func isMountRoot(path string) (bool, error) {
	var stx unix.Statx_t
	err := unix.Statx(unix.AT_FDCWD, path, unix.AT_SYMLINK_NOFOLLOW|unix.AT_STATX_DONT_SYNC, 0, &stx)
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("stat %s: %w", path, err)
	}
	if stx.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT == 0 {
		return false, fmt.Errorf("stat %s: this kernel does not tell mount points (Linux 5.8 does)", path)
	}
	return stx.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0, nil
}

// withVolumeMounted runs fn with v's filesystem on its data dir, in a
// mount namespace of its own that ends with fn: what the host has
// mounted there is seen, and nothing fn mounts is left behind.
func (s *Store) withVolumeMounted(v *Volume, fn func() error) error {
	if !v.HasFilesystem() {
		return fn()
	}
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the thread exits with this goroutine, and its
		// namespace with it.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_FS | unix.CLONE_NEWNS); err != nil {
			errc <- fmt.Errorf("private mount namespace: %w", err)
			return
		}
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			errc <- fmt.Errorf("private mount namespace: %w", err)
			return
		}
		if err := s.MountVolume(v); err != nil {
			errc <- err
			return
		}
		errc <- fn()
	}()
	return <-errc
}
