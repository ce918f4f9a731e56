package child

// The container's /dev: docker's standard nodes on a fresh tmpfs.

import (
	"fmt"
	"os"
	"path"
	"strings"
	"tug/run/childspec"

	"golang.org/x/sys/unix"
)

// populateDev fills the fresh /dev tmpfs with docker's standard nodes and
// links. The image's own /dev is hidden under the tmpfs, so a /dev/null
// that is a symlink in the image redirects nothing.
func populateDev(root int, spec *childspec.Spec) error {
	dev, err := OpenIn(root, "dev", unix.O_PATH|unix.O_DIRECTORY)
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
func makeDevice(root int, d childspec.Device) error {
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
