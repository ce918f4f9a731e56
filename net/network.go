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

	"tug/store"
)

// Network is a bridge network's record.
type Network struct {
	Name    string       `json:"name"`
	Subnet  netip.Prefix `json:"subnet"`
	Gateway netip.Addr   `json:"gateway"`
	Bridge  string       `json:"bridge"`
}

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
	return Network{Name: "tug", Subnet: p, Gateway: p.Addr().Next(), Bridge: "tug0"}, nil
}

// leaseDir holds one file per leased address, naming its container.
func leaseDir(s *store.Store, n Network) string {
	return filepath.Join(s.Root(), "networks", n.Name, "leases")
}

// allocate leases the first free address of n to id, under the
// network's lock, so that parallel starts never share one. A container
// that has a lease already gets it back.
func allocate(s *store.Store, n Network, id string) (netip.Addr, error) {
	lock, err := s.LockArea("network-" + n.Name)
	if err != nil {
		return netip.Addr{}, err
	}
	defer lock.Unlock()
	dir := leaseDir(s, n)
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

// release gives back id's lease, if it has one.
func release(s *store.Store, n Network, id string) error {
	lock, err := s.LockArea("network-" + n.Name)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	entries, _ := os.ReadDir(leaseDir(s, n))
	for _, e := range entries {
		p := filepath.Join(leaseDir(s, n), e.Name())
		if owner, _ := os.ReadFile(p); string(owner) == id {
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

// Saved returns the settings recorded for container id, if any.
func Saved(s *store.Store, id string) (*Settings, error) {
	b, err := os.ReadFile(settingsPath(s, id))
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
