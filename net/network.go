// Package net gives containers their networks: a fresh namespace with
// only lo (none), the host's (host), or a veth into tug's Linux bridge
// with an address from its subnet, a default route, masquerading NAT and
// published ports (bridge). Links are made with vishvananda/netlink and
// NAT rules live in tug's own nftables table, written through netlink
// with google/nftables; nothing shells out.
package net

import (
	"encoding/json"
	"errors"
	"fmt"
	stdnet "net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"tug/store"

	"tug/internal/smallfile"
)

// Network is a bridge network's record.
type Network struct {
	Name    string       `json:"name"`
	Subnet  netip.Prefix `json:"subnet"`
	Gateway netip.Addr   `json:"gateway"`
	Bridge  string       `json:"bridge"`
}

// DefaultName is the default network's name, docker's: bridge. Records
// made before it was (a container's saved settings) may say "tug".
const DefaultName = "bridge"

// Default is tug's default network, tug0 with 10.88.0.0/16 unless the
// config says otherwise.
func Default(subnet string) (Network, error) {
	if subnet == "" {
		subnet = "10.88.0.0/16"
	}
	p, err := netip.ParsePrefix(subnet)
	if err != nil || !p.Addr().Is4() || p.Bits() > 30 {
		return Network{}, fmt.Errorf("network subnet %q: want an IPv4 prefix of /30 or larger", subnet)
	}
	p = p.Masked()
	return Network{Name: DefaultName, Subnet: p, Gateway: p.Addr().Next(), Bridge: "tug0"}, nil
}

// hostDir holds what tug's bridges share across every store on the
// host: a bridge is one per host, whichever --root a tug runs with, so its
// leases and published ports must be too. It is on tmpfs: a reboot ends
// every container, and with them every lease.
const hostDir = "/run/tug-net"

// netLock takes the host-wide lock of n's leases and ports.
func netLock(n Network) (*store.Lock, error) {
	if err := os.MkdirAll(filepath.Join(hostDir, n.Bridge), 0o700); err != nil {
		return nil, fmt.Errorf("network %s: %w", n.Name, err)
	}
	return store.LockFile(filepath.Join(hostDir, n.Bridge, "lock"))
}

// leaseDir holds one file per leased address, naming its container.
func leaseDir(n Network) string {
	return filepath.Join(hostDir, n.Bridge, "leases")
}

// allocate leases the first free address of n (or want, if given) to
// id, under the network's lock, so that parallel starts never share one.
// A container that has a lease already gets it back.
func allocate(n Network, id, want string) (netip.Addr, error) {
	lock, err := netLock(n)
	if err != nil {
		return netip.Addr{}, err
	}
	defer lock.Unlock()
	dir := leaseDir(n)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return netip.Addr{}, fmt.Errorf("leases: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("leases: %w", err)
	}
	used := map[netip.Addr]bool{n.Gateway: true}
	for _, e := range entries {
		a, err := netip.ParseAddr(e.Name())
		if err != nil {
			continue
		}
		if owner, _ := os.ReadFile(filepath.Join(dir, e.Name())); string(owner) == id {
			return a, nil
		}
		used[a] = true
	}
	if want != "" {
		a, err := netip.ParseAddr(want)
		if err != nil || used[a] || !n.Subnet.Contains(a) {
			return netip.Addr{}, fmt.Errorf("address %s is not free on network %s", want, n.Name)
		}
		return a, store.ReplaceFile(filepath.Join(dir, a.String()), []byte(id), 0o600)
	}
	for a := n.Gateway.Next(); n.Subnet.Contains(a); a = a.Next() {
		if used[a] || !n.Subnet.Contains(a.Next()) { // the last is broadcast
			continue
		}
		// no fsync: a reboot ends every container, and rm clears leases
		if err := store.ReplaceFile(filepath.Join(dir, a.String()), []byte(id), 0o600); err != nil {
			return netip.Addr{}, err
		}
		return a, nil
	}
	return netip.Addr{}, fmt.Errorf("network %s: no free address in %s", n.Name, n.Subnet)
}

// portDir holds one file per published host port, proto-port, naming its
// host address and container: tug's own DNAT rules hold no socket that a
// bind could run into.
func portDir(n Network) string {
	return filepath.Join(hostDir, n.Bridge, "ports")
}

// reservePorts records ports for id, refusing one another container
// publishes already on an overlapping address.
func reservePorts(n Network, id string, ports []Port) error {
	lock, err := netLock(n)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	dir := portDir(n)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, p := range ports {
		file := filepath.Join(dir, fmt.Sprintf("%s-%d", p.Proto, p.HostPort))
		ip := p.HostIP.String()
		if !p.HostIP.IsValid() {
			ip = "0.0.0.0"
		}
		if b, err := os.ReadFile(file); err == nil {
			var ownerIP, owner string
			fmt.Sscan(string(b), &ownerIP, &owner)
			if owner != id && (ownerIP == ip || ownerIP == "0.0.0.0" || ip == "0.0.0.0") {
				return fmt.Errorf("host port %s:%d/%s is not free: container %s publishes it", ip, p.HostPort, p.Proto, owner[:min(12, len(owner))])
			}
		}
		if err := store.ReplaceFile(file, []byte(ip+" "+id), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// release gives back id's lease and ports, if it has any.
func release(n Network, id string) error {
	lock, err := netLock(n)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	entries, _ := os.ReadDir(leaseDir(n))
	for _, e := range entries {
		p := filepath.Join(leaseDir(n), e.Name())
		if owner, _ := os.ReadFile(p); string(owner) == id {
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
	}
	ports, _ := os.ReadDir(portDir(n))
	for _, e := range ports {
		p := filepath.Join(portDir(n), e.Name())
		if b, _ := os.ReadFile(p); strings.HasSuffix(string(b), " "+id) {
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
	}
	return nil
}

// Settings are what a container got on its network, for inspect and
// its /etc/hosts.
type Settings struct {
	Network    string                   `json:"network"`
	IPAddress  string                   `json:"ip_address,omitempty"`
	PrefixLen  int                      `json:"prefix_len,omitempty"`
	Gateway    string                   `json:"gateway,omitempty"`
	MacAddress string                   `json:"mac_address,omitempty"`
	Ports      map[string][]PortBinding `json:"ports,omitempty"`
}

// PortBinding is where a container port is published on the host.
type PortBinding struct {
	HostIP   string `json:"HostIp"`
	HostPort string `json:"HostPort"`
}

// settingsPath is where a container's settings are kept while it runs.
func settingsPath(s *store.Store, id string) string {
	return filepath.Join(s.ContainerDir(id), "network.json")
}

// Saved returns the settings recorded for container id on its primary
// network, if any.
func Saved(s *store.Store, id string) (*Settings, error) {
	return readSettings(settingsPath(s, id))
}

// SavedAll returns the settings recorded for container id on each of
// the networks it is on, its primary one first.
func SavedAll(s *store.Store, id string) ([]*Settings, error) {
	more, err := filepath.Glob(filepath.Join(s.ContainerDir(id), "network-*.json"))
	if err != nil {
		return nil, err
	}
	var all []*Settings
	for _, p := range append([]string{settingsPath(s, id)}, more...) {
		st, err := readSettings(p)
		if err != nil {
			return nil, err
		}
		if st != nil {
			all = append(all, st)
		}
	}
	return all, nil
}

func readSettings(path string) (*Settings, error) {
	b, err := smallfile.Read(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var st Settings
	return &st, json.Unmarshal(b, &st)
}

// prefixNet converts a prefix to the net.IPNet netlink wants.
func prefixNet(p netip.Prefix) *stdnet.IPNet {
	return &stdnet.IPNet{IP: p.Addr().AsSlice(), Mask: stdnet.CIDRMask(p.Bits(), 32)}
}
