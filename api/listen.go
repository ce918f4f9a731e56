package api

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Listen opens what uri names: unix:///PATH (or a bare path) or
// tcp://HOST:PORT, or the socket systemd handed over (LISTEN_FDS) when
// uri is "" and there is one. A unix socket is made 0600 in a directory
// of 0700, replacing a stale one, or with a group (gid ≥ 0) 0660 and
// the group's in a directory of 0710; warning is set for TCP, which has
// no authentication.
func Listen(uri, defaultPath string, gid int) (l net.Listener, warning string, err error) {
	if uri == "" {
		if l, err := activated(); l != nil || err != nil {
			return l, "", err
		}
		uri = "unix://" + defaultPath
	}
	switch {
	case strings.HasPrefix(uri, "tcp://"):
		l, err := net.Listen("tcp", strings.TrimPrefix(uri, "tcp://"))
		if err != nil {
			return nil, "", err
		}
		return l, fmt.Sprintf("the API on tcp://%s has no authentication: whoever reaches it is as good as root here", l.Addr()), nil
	case strings.HasPrefix(uri, "unix://"):
		l, err := listenUnix(strings.TrimPrefix(uri, "unix://"), gid)
		return l, "", err
	case filepath.IsAbs(uri):
		l, err := listenUnix(uri, gid)
		return l, "", err
	}
	return nil, "", fmt.Errorf("%q: want unix:///PATH or tcp://HOST:PORT", uri)
}

// listenUnix listens on path, 0600 in a directory of 0700 made if
// missing, or shared with the group gid (≥ 0). A socket left there by a
// service that died is replaced; one that answers is another service's.
func listenUnix(path string, gid int) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return nil, fmt.Errorf("%s: another service listens there", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := share(path, gid); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// share gives the socket at path to its owner alone, or to the group
// gid as well: the socket 0660, its directory 0710 and the group's.
func share(path string, gid int) error {
	if gid < 0 {
		return os.Chmod(path, 0o600)
	}
	for _, p := range []struct {
		name string
		mode os.FileMode
	}{{filepath.Dir(path), 0o710}, {path, 0o660}} {
		if err := os.Chown(p.name, -1, gid); err != nil {
			return fmt.Errorf("share %s with group %d: %w", p.name, gid, err)
		}
		if err := os.Chmod(p.name, p.mode); err != nil {
			return err
		}
	}
	return nil
}

// activated is the listening socket systemd passed (fd 3, with
// LISTEN_PID this process and LISTEN_FDS 1), or nil.
func activated() (net.Listener, error) {
	if os.Getenv("LISTEN_PID") != strconv.Itoa(os.Getpid()) || os.Getenv("LISTEN_FDS") == "" {
		return nil, nil
	}
	for _, v := range []string{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"} {
		os.Unsetenv(v)
	}
	syscall.CloseOnExec(3)
	f := os.NewFile(3, "listen-fd")
	defer f.Close()
	l, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("the socket systemd passed: %w", err)
	}
	return l, nil
}
