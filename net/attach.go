package net

import (
	"encoding/json"
	"errors"
	"fmt"
	stdnet "net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"tug/store"
)

// hostVeth and peerVeth name a container's veth pair (at most 15 bytes).
func hostVeth(id string) string { return "vt" + id[:12] }
func peerVeth(id string) string { return "vp" + id[:12] }

// Attach joins the network namespace of pid (a container's child, not
// yet running anything of the container) to n: a veth into n's bridge,
// an address leased from n (want, if given), a default route via the gateway, and the
// published ports. Anything half done is undone on error.
func Attach(s *store.Store, r *Record, id string, pid int, ports []Port, want string) (st *Settings, err error) {
	n := r.Network
	if err := ensureBridge(n, r.Internal); err != nil {
		return nil, err
	}
	for i := range ports {
		if err := ports[i].claim(); err != nil {
			return nil, err
		}
	}
	ip, err := allocate(n, id, want)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			Detach(s, n, id)
		}
	}()
	if err := reservePorts(n, id, ports); err != nil {
		return nil, err
	}
	mac, err := plugVeth(n, id, pid, netip.PrefixFrom(ip, n.Subnet.Bits()))
	if err != nil {
		return nil, err
	}
	if err := addPorts(id, ip, ports); err != nil {
		return nil, err
	}
	st = &Settings{Network: n.Name, IPAddress: ip.String(), PrefixLen: n.Subnet.Bits(), Gateway: n.Gateway.String(),
		MacAddress: mac, Ports: map[string][]PortBinding{}}
	for _, p := range ports {
		hostIP := "0.0.0.0"
		if p.HostIP.IsValid() {
			hostIP = p.HostIP.String()
		}
		st.Ports[p.Key()] = append(st.Ports[p.Key()], PortBinding{HostIP: hostIP, HostPort: strconv.Itoa(int(p.HostPort))})
	}
	b, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	if err := store.ReplaceFile(settingsPath(s, id), b, 0o600); err != nil {
		return nil, err
	}
	return st, nil
}

// ensureBridge makes n's bridge with the gateway address, turns on
// forwarding, and sets up NAT, all idempotently under n's lock. A marker
// (cleared by a reboot, like the bridge) says it is done, so starts skip
// most netlink round trips while the bridge and tug's table exist; a
// firewall reload that flushed the table gets it made again.
func ensureBridge(n Network, internal bool) error {
	ready := filepath.Join(hostDir, n.Bridge, "ready")
	if _, err := os.Stat(ready); err == nil {
		if br, err := netlink.LinkByName(n.Bridge); err == nil && br.Attrs().Flags&stdnet.FlagUp != 0 && natReady(n.Bridge) {
			return nil
		}
	}
	lock, err := netLock(n)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	if err := setupBridge(n, internal); err != nil {
		return err
	}
	return store.ReplaceFile(ready, nil, 0o600)
}

func setupBridge(n Network, internal bool) error {
	br, err := netlink.LinkByName(n.Bridge)
	if err != nil {
		attrs := netlink.NewLinkAttrs()
		attrs.Name = n.Bridge
		if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: attrs}); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("create bridge %s: %w", n.Bridge, err)
		}
		if br, err = netlink.LinkByName(n.Bridge); err != nil {
			return fmt.Errorf("bridge %s: %w", n.Bridge, err)
		}
	}
	gw := &netlink.Addr{IPNet: prefixNet(netip.PrefixFrom(n.Gateway, n.Subnet.Bits()))}
	if err := netlink.AddrReplace(br, gw); err != nil {
		return fmt.Errorf("bridge %s address: %w", n.Bridge, err)
	}
	if err := netlink.LinkSetUp(br); err != nil {
		return fmt.Errorf("bridge %s up: %w", n.Bridge, err)
	}
	for file, v := range map[string]string{
		"/proc/sys/net/ipv4/ip_forward": "1",
		// published ports answer on 127.0.0.1 too: let DNAT'd loopback
		// traffic be routed to the bridge
		"/proc/sys/net/ipv4/conf/" + n.Bridge + "/route_localnet": "1",
	} {
		if err := os.WriteFile(file, []byte(v), 0); err != nil {
			return fmt.Errorf("enable %s: %w", file, err)
		}
	}
	return ensureNAT(n, internal)
}

// plugVeth makes the veth pair, moves its peer into pid's namespace as
// eth0 with addr and a default route, and returns eth0's MAC.
func plugVeth(n Network, id string, pid int, addr netip.Prefix) (string, error) {
	br, err := netlink.LinkByName(n.Bridge)
	if err != nil {
		return "", fmt.Errorf("bridge %s: %w", n.Bridge, err)
	}
	attrs := netlink.NewLinkAttrs()
	attrs.Name, attrs.MasterIndex, attrs.Flags = hostVeth(id), br.Attrs().Index, stdnet.FlagUp
	// the peer is made straight inside the container's namespace
	veth := &netlink.Veth{LinkAttrs: attrs, PeerName: peerVeth(id), PeerNamespace: netlink.NsPid(pid)}
	if err := netlink.LinkAdd(veth); err != nil {
		return "", fmt.Errorf("create veth: %w", err)
	}
	ns, err := netns.GetFromPid(pid)
	if err != nil {
		return "", fmt.Errorf("container netns: %w", err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return "", fmt.Errorf("container netns: %w", err)
	}
	defer h.Close()
	eth, err := h.LinkByName(peerVeth(id))
	if err != nil {
		return "", fmt.Errorf("veth in the container: %w", err)
	}
	if err := h.LinkSetName(eth, "eth0"); err != nil {
		return "", fmt.Errorf("name eth0: %w", err)
	}
	if err := h.AddrAdd(eth, &netlink.Addr{IPNet: prefixNet(addr)}); err != nil {
		return "", fmt.Errorf("eth0 address: %w", err)
	}
	if err := h.LinkSetUp(eth); err != nil {
		return "", fmt.Errorf("eth0 up: %w", err)
	}
	if err := h.RouteAdd(&netlink.Route{LinkIndex: eth.Attrs().Index, Gw: n.Gateway.AsSlice()}); err != nil {
		return "", fmt.Errorf("default route: %w", err)
	}
	// lo too (the child does it as well): the embedded DNS server binds
	// 127.0.0.11 before the child gets there
	if lo, err := h.LinkByName("lo"); err == nil {
		if err := h.LinkSetUp(lo); err != nil {
			return "", fmt.Errorf("lo up: %w", err)
		}
	}
	return eth.Attrs().HardwareAddr.String(), nil
}

// Detach undoes Attach: the veth (if the namespace is not gone with it
// already), the published ports, the lease and the settings. It is
// safe to run again, and after a crash.
func Detach(s *store.Store, n Network, id string) error {
	var errs []error
	if link, err := netlink.LinkByName(hostVeth(id)); err == nil {
		if err := netlink.LinkDel(link); err != nil {
			errs = append(errs, fmt.Errorf("delete veth: %w", err))
		}
	}
	if err := deletePorts(id); err != nil {
		errs = append(errs, err)
	}
	if err := release(n, id); err != nil {
		errs = append(errs, err)
	}
	if err := os.Remove(settingsPath(s, id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
