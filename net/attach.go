package net

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
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
	"golang.org/x/sys/unix"

	"tug/store"
)

// endpoint is a container's place on one network: its primary one
// (eth0, the default route, the published ports) or one connected with
// tug network connect (eth1…, only the network's own route).
type endpoint struct {
	id       string
	veth     string // the host side; at most 15 bytes
	settings string // where its Settings are kept while it runs
	primary  bool
}

// primary is the endpoint of a container's --network.
func primary(s *store.Store, id string) endpoint {
	return endpoint{id: id, veth: "vt" + id[:12], settings: settingsPath(s, id), primary: true}
}

// connected is the endpoint of a container on a network it was
// connected to later, named after both.
func connected(s *store.Store, n Network, id string) endpoint {
	sum := sha256.Sum256([]byte(id + "\x00" + n.Bridge))
	return endpoint{id: id, veth: "vc" + hex.EncodeToString(sum[:6]),
		settings: filepath.Join(s.ContainerDir(id), "network-"+n.Name+".json")}
}

// peer is the temporary name of the container's side, until it is
// renamed to ethN in the container.
func (e endpoint) peer() string { return "p" + e.veth[1:] }

// Want is what a container asks of a network; tug picks what is left
// empty.
type Want struct {
	IP  string              // --ip: an address of the network's subnet
	MAC stdnet.HardwareAddr // --mac-address: of its interface
}

// Attach joins the network namespace of pid (a container's child, not
// yet running anything of the container) to n: a veth into n's bridge,
// an address leased from n, a default route via the gateway, and the
// published ports. Anything half done is undone on error.
func Attach(s *store.Store, r *Record, id string, pid int, ports []Port, want Want) (*Settings, error) {
	return attach(s, r, primary(s, id), pid, ports, want)
}

// Connect adds network r to the namespace of pid, a running container's
// (or one that is starting): a veth as the next free ethN with an
// address leased from r (want, if given), and no default route.
func Connect(s *store.Store, r *Record, id string, pid int, want string) (*Settings, error) {
	st, err := attach(s, r, connected(s, r.Network, id), pid, nil, Want{IP: want})
	if err == nil {
		s.Emit("network", "connect", r.Name, map[string]string{"name": r.Name, "container": id, "type": "bridge"})
	}
	return st, err
}

// Disconnect undoes Connect; like Detach it is safe to run again.
func Disconnect(s *store.Store, n Network, id string) error {
	err := detach(n, connected(s, n, id))
	if err == nil {
		s.Emit("network", "disconnect", n.Name, map[string]string{"name": n.Name, "container": id, "type": "bridge"})
	}
	return err
}

func attach(s *store.Store, r *Record, ep endpoint, pid int, ports []Port, want Want) (st *Settings, err error) {
	n, id := r.Network, ep.id
	if err := ensureBridge(n, r.Internal); err != nil {
		return nil, err
	}
	for i := range ports {
		if err := ports[i].claim(); err != nil {
			return nil, err
		}
	}
	ip, err := allocate(n, id, want.IP)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			detach(n, ep)
		}
	}()
	if err := reservePorts(n, id, ports); err != nil {
		return nil, err
	}
	mac, err := plugVeth(n, ep, pid, netip.PrefixFrom(ip, n.Subnet.Bits()), want.MAC)
	if err != nil {
		return nil, err
	}
	if err := addPorts(id, ip, ports); err != nil {
		return nil, err
	}
	addRedirects(id, ip, ports) // the DNAT rules carry what it cannot
	st = &Settings{Network: n.Name, IPAddress: ip.String(), PrefixLen: n.Subnet.Bits(), Gateway: n.Gateway.String(),
		MacAddress: mac, Ports: bindings(ports)}
	b, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	if err := store.ReplaceFile(ep.settings, b, 0o600); err != nil {
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
		attrs.Name, attrs.HardwareAddr = n.Bridge, bridgeMAC(n.Bridge)
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

// bridgeMAC is the Ethernet address of bridge name, fixed by its name.
// A bridge the kernel gives a random address is one that udev (systemd's
// MACAddressPolicy=persistent) changes a moment after it is made, and a
// container that has learnt the gateway's first address by then sends
// its replies nowhere; an address set at creation is left alone. So is
// a veth's (randomMAC).
func bridgeMAC(name string) stdnet.HardwareAddr {
	sum := sha256.Sum256([]byte("tug bridge " + name))
	return append(stdnet.HardwareAddr{0x02, 0x42}, sum[:4]...) // locally administered, unicast
}

// ipMAC is the MAC of a container's interface with address ip,
// docker's classic 02:42 followed by the IPv4 address: an address the
// next container reuses comes with the same MAC, so the host's
// neighbour entry for it, still reachable from the last one, stays
// right. With a random MAC the host kept sending to the gone one for
// up to half a minute. Not IPv4: nil, the kernel's random one.
func ipMAC(ip netip.Addr) stdnet.HardwareAddr {
	if !ip.Is4() {
		return nil
	}
	a := ip.As4()
	return stdnet.HardwareAddr{0x02, 0x42, a[0], a[1], a[2], a[3]}
}

// randomMAC is a random locally administered unicast Ethernet address.
func randomMAC() (stdnet.HardwareAddr, error) {
	mac := make(stdnet.HardwareAddr, 6)
	if _, err := rand.Read(mac); err != nil {
		return nil, err
	}
	mac[0] = mac[0]&^1 | 2
	return mac, nil
}

// plugVeth makes the veth pair, moves its peer into pid's namespace as
// eth0 with addr, mac (if nil, one made of the address: ipMAC) and a
// default route (or, for a connected network, as the next free ethN),
// and returns its MAC.
func plugVeth(n Network, ep endpoint, pid int, addr netip.Prefix, mac stdnet.HardwareAddr) (string, error) {
	if mac == nil {
		mac = ipMAC(addr.Addr())
	}
	br, err := netlink.LinkByName(n.Bridge)
	if err != nil {
		return "", fmt.Errorf("bridge %s: %w", n.Bridge, err)
	}
	attrs := netlink.NewLinkAttrs()
	attrs.Name, attrs.MasterIndex, attrs.Flags = ep.veth, br.Attrs().Index, stdnet.FlagUp
	if attrs.HardwareAddr, err = randomMAC(); err != nil {
		return "", err
	}
	// the peer is made straight inside the container's namespace
	veth := &netlink.Veth{LinkAttrs: attrs, PeerName: ep.peer(), PeerNamespace: netlink.NsPid(pid), PeerHardwareAddr: mac}
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
	eth, err := h.LinkByName(ep.peer())
	if err != nil {
		return "", fmt.Errorf("veth in the container: %w", err)
	}
	name := freeEth(h)
	if err := h.LinkSetName(eth, name); err != nil {
		return "", fmt.Errorf("name %s: %w", name, err)
	}
	if err := h.AddrAdd(eth, &netlink.Addr{IPNet: prefixNet(addr)}); err != nil {
		return "", fmt.Errorf("%s address: %w", name, err)
	}
	if err := h.LinkSetUp(eth); err != nil {
		return "", fmt.Errorf("%s up: %w", name, err)
	}
	if !ep.primary {
		return eth.Attrs().HardwareAddr.String(), nil
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

// freeEth returns the first name eth0, eth1… that the namespace behind
// h does not use.
func freeEth(h *netlink.Handle) string {
	for i := 0; ; i++ {
		name := "eth" + strconv.Itoa(i)
		if _, err := h.LinkByName(name); err != nil {
			return name
		}
	}
}

// Detach undoes Attach: the veth (if the namespace is not gone with it
// already), the published ports, the lease and the settings. It is
// safe to run again, and after a crash.
func Detach(s *store.Store, n Network, id string) error {
	return detach(n, primary(s, id))
}

// deleteLink deletes the link named name. One that is gone already, or
// goes between the lookup and the delete (the kernel removes a veth with
// its peer's namespace), is not an error.
func deleteLink(name string) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return nil
	}
	return linkDel(link)
}

// linkDel deletes link; ENODEV means it is gone already.
func linkDel(link netlink.Link) error {
	if err := netlink.LinkDel(link); err != nil && !errors.Is(err, unix.ENODEV) {
		return err
	}
	return nil
}

func detach(n Network, ep endpoint) error {
	var errs []error
	if err := deleteLink(ep.veth); err != nil {
		errs = append(errs, fmt.Errorf("delete veth: %w", err))
	}
	if ep.primary {
		if err := deletePorts(ep.id); err != nil {
			errs = append(errs, err)
		}
		if err := deleteRedirects(ep.id); err != nil {
			errs = append(errs, err)
		}
	}
	if err := release(n, ep.id); err != nil {
		errs = append(errs, err)
	}
	if err := os.Remove(ep.settings); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
