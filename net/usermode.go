package net

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	stdnet "net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"tug/store"
)

// A rootless container cannot have a veth on a bridge: only root can
// make those. Its namespace reaches the world through a user-mode
// network stack instead, a program that runs as the user and turns the
// container's packets into the user's own sockets on the host: pasta
// (from passt) or slirp4netns, whichever is installed, pasta first. Both
// map an address of the container's network to the host's loopback
// (pasta the gateway, slirp4netns 10.0.2.2). Published ports do not
// go through them: tug's own forwarder (forward.go) listens on the host
// and connects into the container's namespace.

// The user-mode stacks, best first.
const (
	Pasta = "pasta"
	Slirp = "slirp4netns"
)

// UserModeStack resolves --network for a rootless container: pasta or
// slirp4netns by name, or for bridge (the default) the best installed.
func UserModeStack(network string) (string, error) {
	return pickStack(network, findStack)
}

// pickStack is UserModeStack with the programs found by find.
func pickStack(network string, find func(string) (string, error)) (string, error) {
	switch network {
	case Pasta, Slirp:
		if _, err := find(network); err != nil {
			return "", fmt.Errorf("--network %s: %s is not installed (sudo apt-get install %s)", network, network, pkgOf(network))
		}
		return network, nil
	case "", "bridge":
		for _, s := range []string{Pasta, Slirp} {
			if _, err := find(s); err == nil {
				return s, nil
			}
		}
		return "", errors.New("rootless networking needs pasta or slirp4netns and neither is installed: " +
			"sudo apt-get install passt (or run with --network none or --network host)")
	}
	return "", fmt.Errorf("--network %s: a rootless container cannot join a bridge network; use the default (pasta or slirp4netns), none or host", network)
}

// IsUserMode tells whether network names a user-mode stack.
func IsUserMode(network string) bool { return network == Pasta || network == Slirp }

func pkgOf(stack string) string {
	if stack == Pasta {
		return "passt"
	}
	return stack
}

// UserMode is a container's running user-mode network and forwarder.
type UserMode struct {
	helper *exec.Cmd
	exited chan struct{} // closed once helper is waited for
	exitW  *os.File      // slirp4netns exits when this closes
	fwd    *forwarder
}

// StartUserMode connects the network namespace of pid to the host
// through stack, its interface with mac (the stack's own if nil),
// publishes ports with tug's forwarder, and records the settings for
// inspect and port. Nothing is left running on error.
func StartUserMode(s *store.Store, id, stack string, pid int, ports []Port, mac stdnet.HardwareAddr) (u *UserMode, st *Settings, err error) {
	u = &UserMode{}
	defer func() {
		if err != nil {
			u.Stop()
		}
	}()
	if u.fwd, err = newForwarder(pid, ports); err != nil {
		return nil, nil, err
	}
	switch stack {
	case Pasta:
		st, err = u.startPasta(pid, mac)
	case Slirp:
		st, err = u.startSlirp(pid, mac)
	default:
		err = fmt.Errorf("unknown user-mode network %q", stack)
	}
	if err != nil {
		return nil, nil, err
	}
	if ip, err := netip.ParseAddr(st.IPAddress); err == nil {
		if err := u.fwd.transparent(pid, ip); err != nil {
			return nil, nil, err
		}
	}
	st.Network, st.Ports = stack, bindings(u.fwd.ports)
	b, err := json.Marshal(st)
	if err != nil {
		return nil, nil, err
	}
	if err := store.ReplaceFile(settingsPath(s, id), b, 0o600); err != nil {
		return nil, nil, err
	}
	u.fwd.serve()
	return u, st, nil
}

// startPasta runs pasta against the namespace, in the foreground as the
// keeper's child: it copies the host's address and routes into it, maps
// the gateway to the host's loopback, and forwards no ports of its own.
// It is ready once the namespace has the address.
func (u *UserMode) startPasta(pid int, mac stdnet.HardwareAddr) (*Settings, error) {
	path, err := findStack(Pasta)
	if err != nil {
		return nil, err
	}
	// by an fd of tug's: pasta drops the capability that lets it open
	// the namespaces of a non-dumpable process
	ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil {
		return nil, fmt.Errorf("container netns: %w", err)
	}
	defer ns.Close()
	args := []string{"--config-net", "--foreground", "--quiet", "--ipv4-only", "--runas", "0:0",
		"-t", "none", "-u", "none", "-T", "none", "-U", "none", "--netns", "/proc/self/fd/3"}
	if mac != nil {
		args = append(args, "--ns-mac-addr", mac.String())
	}
	cmd := exec.Command(path, args...)
	cmd.ExtraFiles = []*os.File{ns}
	stderr, err := u.start(cmd)
	if err != nil {
		return nil, fmt.Errorf("pasta: %w", err)
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		select {
		case <-u.exited:
			return nil, fmt.Errorf("pasta: %s", lastLine(stderr.String()))
		default:
		}
		if st, err := addressOf(pid); err != nil || st.IPAddress != "" {
			return st, err
		}
	}
	return nil, errors.New("pasta: the namespace got no address within 5s")
}

// startSlirp runs slirp4netns as the keeper's child: it makes eth0 in
// the namespace (10.0.2.100/24, gateway and host loopback 10.0.2.2, DNS
// 10.0.2.3), says so on its ready fd, and exits when its exit fd closes.
func (u *UserMode) startSlirp(pid int, mac stdnet.HardwareAddr) (*Settings, error) {
	path, err := findStack(Slirp)
	if err != nil {
		return nil, err
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer readyR.Close()
	exitR, exitW, err := os.Pipe()
	if err != nil {
		readyW.Close()
		return nil, err
	}
	u.exitW = exitW
	args := []string{"--configure", "--mtu=65520", "--ready-fd=3", "--exit-fd=4"}
	if mac != nil {
		args = append(args, "--macaddress="+mac.String())
	}
	cmd := exec.Command(path, append(args, strconv.Itoa(pid), "eth0")...)
	cmd.ExtraFiles = []*os.File{readyW, exitR}
	stderr, err := u.start(cmd)
	readyW.Close()
	exitR.Close()
	if err != nil {
		return nil, fmt.Errorf("slirp4netns: %w", err)
	}
	b := make([]byte, 1)
	if n, _ := readyR.Read(b); n != 1 {
		<-u.exited
		return nil, fmt.Errorf("slirp4netns: %s", lastLine(stderr.String()))
	}
	return addressOf(pid) // 10.0.2.100/24 via 10.0.2.2
}

// start runs a stack as the keeper's child, in a session of its own
// (no terminal signals), killed should the keeper's thread die; the
// caller is locked to its thread for the container's life (launch).
func (u *UserMode) start(cmd *exec.Cmd) (*bytes.Buffer, error) {
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Pdeathsig: unix.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	u.helper, u.exited = cmd, make(chan struct{})
	go func() {
		cmd.Wait()
		close(u.exited)
	}()
	return &stderr, nil
}

// addressOf reads the IPv4 address, gateway and MAC the stack gave the
// namespace.
func addressOf(pid int) (*Settings, error) {
	h, closeNS, err := handleIn(pid)
	if err != nil {
		return nil, err
	}
	defer closeNS()
	st := &Settings{}
	addrs, err := h.AddrList(nil, unix.AF_INET)
	if err != nil {
		return nil, err
	}
	for _, a := range addrs {
		if !a.IP.IsLoopback() {
			ones, _ := a.Mask.Size()
			st.IPAddress, st.PrefixLen = a.IP.String(), ones
			if link, err := h.LinkByIndex(a.LinkIndex); err == nil {
				st.MacAddress = link.Attrs().HardwareAddr.String()
			}
			break
		}
	}
	routes, err := h.RouteList(nil, unix.AF_INET)
	if err != nil {
		return nil, err
	}
	for _, r := range routes {
		if r.Dst == nil && r.Gw != nil {
			st.Gateway = r.Gw.String()
		}
	}
	return st, nil
}

// Stop ends the stack and the forwarder; safe on a partly started one.
func (u *UserMode) Stop() {
	if u == nil {
		return
	}
	if u.fwd != nil {
		u.fwd.close()
	}
	if u.exitW != nil {
		u.exitW.Close()
	}
	if u.helper != nil {
		u.helper.Process.Signal(unix.SIGTERM)
		select {
		case <-u.exited:
		case <-time.After(time.Second):
			u.helper.Process.Kill()
			<-u.exited
		}
	}
}

// RemoveUserMode forgets the settings of a container's user-mode
// network; the stack itself ends with the namespace or its keeper.
func RemoveUserMode(s *store.Store, id string) error {
	err := os.Remove(settingsPath(s, id))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// handleIn opens a netlink handle on the network namespace of pid.
func handleIn(pid int) (*netlink.Handle, func(), error) {
	ns, err := netns.GetFromPid(pid)
	if err != nil {
		return nil, nil, fmt.Errorf("container netns: %w", err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		ns.Close()
		return nil, nil, fmt.Errorf("container netns: %w", err)
	}
	return h, func() { h.Close(); ns.Close() }, nil
}

// findStack finds a stack's program in PATH or, for a monitor (whose
// environment is the container's business, not the user's), in the
// standard directories.
func findStack(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/local/bin", "/usr/bin", "/bin"} {
		p := filepath.Join(dir, name)
		if unix.Access(p, unix.X_OK) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found", name)
}
