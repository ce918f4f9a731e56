package net

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"time"

	"github.com/vishvananda/netlink"

	"tug/store"
)

// Record is a user-defined network as the store keeps it.
type Record struct {
	Network
	Internal bool              `json:"internal,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
	Created  time.Time         `json:"created"`
}

// ErrExists is returned when a network of the name is there already.
var ErrExists = errors.New("exists already")

var networkName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

func recordPath(s *store.Store, name string) string {
	return filepath.Join(s.Root(), "networks", name+".json")
}

// bridgeName names a user network's bridge after the store and the
// network: at most 15 bytes, the same on every start.
func bridgeName(s *store.Store, name string) string {
	sum := sha256.Sum256([]byte(s.Root() + "\x00" + name))
	return "tb" + hex.EncodeToString(sum[:])[:12]
}

// CreateOptions describe a new network.
type CreateOptions struct {
	Subnet, Gateway string
	Internal        bool
	Labels          map[string]string
}

// Create records a new bridge network; its bridge is made on first use.
// Without a subnet it takes the first free /24 of 10.89.0.0/16.
func Create(s *store.Store, name string, opt CreateOptions, defaultSubnet string) (*Record, error) {
	r, err := create(s, name, opt, defaultSubnet)
	if err == nil {
		s.Emit("network", "create", r.Name, map[string]string{"name": r.Name, "type": "bridge"})
	}
	return r, err
}

func create(s *store.Store, name string, opt CreateOptions, defaultSubnet string) (*Record, error) {
	if !networkName.MatchString(name) || name == "bridge" || name == "none" || name == "host" || name == "tug" || IsUserMode(name) {
		return nil, fmt.Errorf("invalid network name %q", name)
	}
	if s.Rootless() {
		return nil, errors.New("user-defined networks are bridges, which need root: rootless containers use pasta or slirp4netns (or --network none or host)")
	}
	lock, err := store.LockFile(filepath.Join(s.Root(), "locks", "networks.lock"))
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()
	all, err := List(s, defaultSubnet)
	if err != nil {
		return nil, err
	}
	for _, r := range all {
		if r.Name == name {
			return nil, fmt.Errorf("network %s %w", name, ErrExists)
		}
	}
	subnet, err := pickSubnet(opt.Subnet, all)
	if err != nil {
		return nil, err
	}
	gw := subnet.Addr().Next()
	if opt.Gateway != "" {
		if gw, err = netip.ParseAddr(opt.Gateway); err != nil || !subnet.Contains(gw) {
			return nil, fmt.Errorf("--gateway %s: want an address in %s", opt.Gateway, subnet)
		}
	}
	r := &Record{Network: Network{Name: name, Subnet: subnet, Gateway: gw, Bridge: bridgeName(s, name)},
		Internal: opt.Internal, Labels: opt.Labels, Created: time.Now().UTC()}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(recordPath(s, name)), 0o700); err != nil {
		return nil, err
	}
	return r, store.WriteFileAtomic(recordPath(s, name), b, 0o600)
}

// pickSubnet checks a requested subnet against the networks there are
// and the host's routes, or picks a free /24.
func pickSubnet(want string, all []*Record) (netip.Prefix, error) {
	taken := func(p netip.Prefix) bool {
		for _, r := range all {
			if r.Subnet.Overlaps(p) {
				return true
			}
		}
		routes, _ := netlink.RouteList(nil, netlink.FAMILY_V4)
		for _, rt := range routes {
			if rt.Dst == nil {
				continue
			}
			ones, _ := rt.Dst.Mask.Size()
			if a, ok := netip.AddrFromSlice(rt.Dst.IP.To4()); ok && ones > 0 && netip.PrefixFrom(a, ones).Overlaps(p) {
				return true
			}
		}
		return false
	}
	if want != "" {
		p, err := netip.ParsePrefix(want)
		if err != nil || !p.Addr().Is4() || p.Bits() > 30 {
			return netip.Prefix{}, fmt.Errorf("--subnet %q: want an IPv4 prefix of /30 or larger", want)
		}
		if p = p.Masked(); taken(p) {
			return netip.Prefix{}, fmt.Errorf("--subnet %s overlaps a network or route this host has", p)
		}
		return p, nil
	}
	for i := 0; i < 256; i++ {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 89, byte(i), 0}), 24)
		if !taken(p) {
			return p, nil
		}
	}
	return netip.Prefix{}, errors.New("no free /24 left in 10.89.0.0/16; give --subnet")
}

// List returns the default network, then the user-defined ones by name.
func List(s *store.Store, defaultSubnet string) ([]*Record, error) {
	def, err := Default(defaultSubnet)
	if err != nil {
		return nil, err
	}
	out := []*Record{{Network: def}}
	files, _ := filepath.Glob(filepath.Join(s.Root(), "networks", "*.json"))
	sort.Strings(files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var r Record
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("network record %s is corrupt: %w", f, err)
		}
		out = append(out, &r)
	}
	return out, nil
}

// Lookup finds a network by name; "bridge" (and "tug", its name in
// records made before) is the default.
func Lookup(s *store.Store, name, defaultSubnet string) (*Record, error) {
	all, err := List(s, defaultSubnet)
	if err != nil {
		return nil, err
	}
	if name == "tug" {
		name = DefaultName
	}
	for _, r := range all {
		if r.Name == name {
			return r, nil
		}
	}
	return nil, &store.NoSuch{Kind: "network", Name: name}
}

// Users lists the containers holding a lease on a network.
func Users(n Network) []string {
	entries, _ := os.ReadDir(leaseDir(n))
	var out []string
	for _, e := range entries {
		if b, err := os.ReadFile(filepath.Join(leaseDir(n), e.Name())); err == nil {
			out = append(out, string(b))
		}
	}
	return out
}

// Remove deletes a user-defined network, refused while containers use
// it: its record, bridge and rules.
func Remove(s *store.Store, name, defaultSubnet string) error {
	err := remove(s, name, defaultSubnet)
	if err == nil {
		s.Emit("network", "destroy", name, map[string]string{"name": name, "type": "bridge"})
	}
	return err
}

func remove(s *store.Store, name, defaultSubnet string) error {
	r, err := Lookup(s, name, defaultSubnet)
	if err != nil {
		return err
	}
	if r.Name == DefaultName {
		return errors.New("the default network cannot be removed")
	}
	if users := Users(r.Network); len(users) > 0 {
		return fmt.Errorf("network %s is %w by %d container(s) (%s…); remove them first", name, store.ErrInUse, len(users), users[0][:12])
	}
	if err := deleteLink(r.Bridge); err != nil {
		return fmt.Errorf("delete bridge %s: %w", r.Bridge, err)
	}
	if err := deleteNetworkRules(r.Bridge); err != nil {
		return err
	}
	os.RemoveAll(filepath.Join(hostDir, r.Bridge))
	if err := os.Remove(recordPath(s, name)); err != nil {
		return fmt.Errorf("remove network %s: %w", name, err)
	}
	return nil
}

// Prune removes every user-defined network no container uses and
// returns their names.
func Prune(s *store.Store, defaultSubnet string) ([]string, error) {
	all, err := List(s, defaultSubnet)
	if err != nil {
		return nil, err
	}
	var gone []string
	for _, r := range all[1:] { // the default network stays
		if len(Users(r.Network)) == 0 && Remove(s, r.Name, defaultSubnet) == nil {
			gone = append(gone, r.Name)
		}
	}
	return gone, nil
}
