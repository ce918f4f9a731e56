package run

import (
	"encoding/json"
	"fmt"
	stdnet "net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	tugnet "tug/net"
	"tug/store"
)

// attachNetwork plumbs a bridge container's networks into the namespace
// of its child pid, its primary one and those connected later, and
// names its address in its /etc/hosts.
func attachNetwork(s *store.Store, c *store.Container, cfg *Config, spec *Spec, pid int) error {
	if !bridged(cfg) {
		return nil
	}
	r, err := tugnet.Lookup(s, cfg.Network, cfg.Subnet)
	if err != nil {
		return err
	}
	st, err := tugnet.Attach(s, r, c.ID, pid, cfg.Ports, tugnet.Want{IP: cfg.IP, MAC: macOf(cfg)})
	if err != nil {
		return fmt.Errorf("network: %w", err)
	}
	for _, name := range cfg.Connected {
		r, err := tugnet.Lookup(s, name, cfg.Subnet)
		if err != nil {
			return fmt.Errorf("network %s: %w", name, err)
		}
		if _, err := tugnet.Connect(s, r, c.ID, pid, cfg.ConnectIPs[name]); err != nil {
			return fmt.Errorf("network %s: %w", name, err)
		}
	}
	// the bind-mounted file is the same inode: the container sees this
	hosts := filepath.Join(s.ContainerDir(c.ID), "hosts")
	return os.WriteFile(hosts, []byte(hostsFile(spec, st.IPAddress)), 0o644)
}

// startUserMode connects a rootless container to the host through its
// user-mode stack, publishes its ports, and names its address in its
// /etc/hosts.
func startUserMode(s *store.Store, c *store.Container, cfg *Config, spec *Spec, pid int) (*tugnet.UserMode, error) {
	u, st, err := tugnet.StartUserMode(s, c.ID, cfg.Network, pid, cfg.Ports, macOf(cfg))
	if err != nil {
		return nil, fmt.Errorf("network %s: %w", cfg.Network, err)
	}
	hosts := filepath.Join(s.ContainerDir(c.ID), "hosts")
	return u, os.WriteFile(hosts, []byte(hostsFile(spec, st.IPAddress)), 0o644)
}

// macOf is the container's --mac-address, checked at create; nil for
// the network's choice.
func macOf(cfg *Config) stdnet.HardwareAddr {
	mac, _ := stdnet.ParseMAC(cfg.MacAddress)
	return mac
}

// detachNetwork undoes attachNetwork; it is safe to run again. The
// networks connected while the container ran are read afresh: from its
// record and from the settings it holds.
func detachNetwork(s *store.Store, c *store.Container, cfg *Config) {
	if tugnet.IsUserMode(cfg.Network) {
		tugnet.RemoveUserMode(s, c.ID)
		return
	}
	if !bridged(cfg) {
		return
	}
	if r, err := tugnet.Lookup(s, cfg.Network, cfg.Subnet); err == nil {
		if err := tugnet.Detach(s, r.Network, c.ID); err != nil {
			fmt.Fprintf(os.Stderr, "tug: network of %s: %s\n", c.Name, err)
		}
	}
	for _, name := range connectedNow(s, c.ID, cfg) {
		if r, err := tugnet.Lookup(s, name, cfg.Subnet); err == nil {
			if err := tugnet.Disconnect(s, r.Network, c.ID); err != nil {
				fmt.Fprintf(os.Stderr, "tug: network %s of %s: %s\n", name, c.Name, err)
			}
		}
	}
}

// connectedNow lists the networks container id was connected to with
// network connect, as its record says now and as its saved settings say.
func connectedNow(s *store.Store, id string, cfg *Config) []string {
	names := slices.Clone(cfg.Connected)
	if c, err := s.LookupContainer(id); err == nil {
		if fresh, err := ContainerConfig(c); err == nil {
			names = append(names, fresh.Connected...)
		}
	}
	if all, err := tugnet.SavedAll(s, id); err == nil {
		for _, st := range all {
			if defaultName(st.Network) != defaultName(cfg.Network) {
				names = append(names, st.Network)
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// Connect puts container c on network name as well, as docker's network
// connect does: at once if it runs (the next free ethN, no default
// route), and at each start from now on. ip asks for an address; the
// aliases name it on that network.
func Connect(s *store.Store, c *store.Container, name, ip string, aliases []string, subnet string) error {
	// reconciled before the lock, which State takes when a keeper died
	if _, err := State(s, c); err != nil {
		return err
	}
	return editConfig(s, c, func(cfg *Config) error {
		r, err := lookupNetwork(s, name, subnet)
		if err != nil {
			return err
		}
		if !bridged(cfg) {
			return fmt.Errorf("container %s uses --network %s: it cannot join other networks", c.Name, cfg.Network)
		}
		if defaultName(cfg.Network) == r.Name || slices.Contains(cfg.Connected, r.Name) {
			return fmt.Errorf("container %s is already on network %s", c.Name, r.Name)
		}
		if a, err := netip.ParseAddr(ip); ip != "" && (err != nil || !r.Subnet.Contains(a) || a == r.Gateway) {
			return fmt.Errorf("--ip %s: want an address of network %s's %s", ip, r.Name, r.Subnet)
		}
		if len(aliases) > 0 && r.Name == tugnet.DefaultName {
			return fmt.Errorf("--alias: only user-defined networks resolve names")
		}
		st, err := s.State(c.ID)
		if err != nil {
			return err
		}
		if st.Status == store.StatusRunning {
			// should the record not be saved, the settings this leaves
			// still get it undone at stop (connectedNow)
			if _, err := tugnet.Connect(s, r, c.ID, nsPid(st), ip); err != nil {
				return fmt.Errorf("connect %s to %s: %w", c.Name, r.Name, err)
			}
		}
		cfg.Connected = append(cfg.Connected, r.Name)
		if ip != "" {
			if cfg.ConnectIPs == nil {
				cfg.ConnectIPs = map[string]string{}
			}
			cfg.ConnectIPs[r.Name] = ip
		}
		if len(aliases) > 0 {
			if cfg.ConnectAliases == nil {
				cfg.ConnectAliases = map[string][]string{}
			}
			cfg.ConnectAliases[r.Name] = aliases
		}
		return nil
	})
}

// Disconnect takes container c off network name, which it was connected
// to with Connect.
func Disconnect(s *store.Store, c *store.Container, name string, subnet string) error {
	return editConfig(s, c, func(cfg *Config) error {
		r, err := lookupNetwork(s, name, subnet)
		if err != nil {
			return err
		}
		if defaultName(cfg.Network) == r.Name {
			return fmt.Errorf("network %s is the --network of %s: tug only disconnects networks added with network connect", r.Name, c.Name)
		}
		i := slices.Index(cfg.Connected, r.Name)
		if i < 0 {
			return fmt.Errorf("container %s is not connected to network %s", c.Name, r.Name)
		}
		if err := tugnet.Disconnect(s, r.Network, c.ID); err != nil {
			return fmt.Errorf("disconnect %s from %s: %w", c.Name, r.Name, err)
		}
		cfg.Connected = slices.Delete(cfg.Connected, i, i+1)
		delete(cfg.ConnectIPs, r.Name)
		delete(cfg.ConnectAliases, r.Name)
		return nil
	})
}

// lookupNetwork finds a network by name, with a hint when it is not
// there.
func lookupNetwork(s *store.Store, name, subnet string) (*tugnet.Record, error) {
	r, err := tugnet.Lookup(s, name, subnet)
	if err != nil {
		return nil, fmt.Errorf("%w (see tug network ls)", err)
	}
	return r, nil
}

// editConfig changes container c's run config with edit, under the
// container's lock, and saves it unless edit fails.
func editConfig(s *store.Store, c *store.Container, edit func(*Config) error) error {
	lock, err := s.LockContainer(c.ID)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	cfg, err := ContainerConfig(c)
	if err != nil {
		return err
	}
	if err := edit(cfg); err != nil {
		return err
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	c.Spec = raw
	return s.SaveContainer(c)
}

// networkOwner returns a pidfd of the container whose network a
// container joins, or nil when it joins none. That container must run.
func networkOwner(s *store.Store, cfg *Config) (*os.File, error) {
	id, ok := sharedNetwork(cfg)
	if !ok {
		return nil, nil
	}
	return joinTarget(s, id, "--network "+cfg.Network, "the network", unix.CLONE_NEWNET)
}

// joinTarget returns a pidfd of running container id, whose namespace
// of kind clone (what, in errors) a container joins, or of a held one
// (hold.go) that namespace itself; flag names it in a lookup error.
// setns(2) takes either.
func joinTarget(s *store.Store, id, flag, what string, clone uintptr) (*os.File, error) {
	owner, err := s.LookupContainer(id)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	st, err := State(s, owner)
	if err != nil {
		return nil, err
	}
	fd, err := pidfd(st.Pid, st.PidStart, st.BootID)
	if st.Status != store.StatusRunning || err != nil {
		return nil, fmt.Errorf("cannot join %s of %s: %w", what, owner.Name, ErrNotRunning)
	}
	pf := os.NewFile(uintptr(fd), "pidfd")
	if st.Holder == 0 {
		return pf, nil
	}
	defer pf.Close()
	kind := map[uintptr]string{unix.CLONE_NEWNET: "net", unix.CLONE_NEWIPC: "ipc", unix.CLONE_NEWUTS: "uts"}[clone]
	if kind == "" {
		return nil, fmt.Errorf("cannot join %s of %s: it holds none", what, owner.Name)
	}
	ns, err := os.Open(fmt.Sprintf("/proc/%d/task/%d/ns/%s", st.Pid, st.Holder, kind))
	if err != nil || !sameProcess(st.Pid, st.PidStart, st.BootID) {
		if ns != nil {
			ns.Close()
		}
		return nil, fmt.Errorf("cannot join %s of %s: %w", what, owner.Name, ErrNotRunning)
	}
	return ns, nil
}

// defaultName is a network's name as the network's record has it: the
// default network is bridge, which records made before called "tug".
func defaultName(network string) string {
	if network == "tug" {
		return tugnet.DefaultName
	}
	return network
}

// userNetwork tells whether --network names a user-defined network:
// not the default bridge, none, host or container:NAME.
func userNetwork(network string) bool {
	switch defaultName(network) {
	case tugnet.DefaultName, "none", "host", tugnet.Pasta, tugnet.Slirp:
		return false
	}
	return !strings.HasPrefix(network, "container:")
}

// networks lists the user-defined networks a container is on, whose
// names it resolves: docker's default bridge resolves none.
func networks(cfg *Config) []string {
	var out []string
	for _, n := range append([]string{cfg.Network}, cfg.Connected...) {
		if userNetwork(n) {
			out = append(out, n)
		}
	}
	return out
}

// resolver answers, for container self, the names and aliases of the
// running containers that share a user-defined network with it, with
// their address on that network. Both sides are read from the store at
// each query, so connects and disconnects count at once.
func resolver(s *store.Store, self string) tugnet.Resolver {
	return func(name string) (netip.Addr, bool) {
		me, err := s.LookupContainer(self)
		if err != nil {
			return netip.Addr{}, false
		}
		mine, err := ContainerConfig(me)
		if err != nil {
			return netip.Addr{}, false
		}
		all, err := s.Containers()
		if err != nil {
			return netip.Addr{}, false
		}
		for _, c := range all {
			if a, ok := addressOf(s, c, name, networks(mine)); ok {
				return a, true
			}
		}
		return netip.Addr{}, false
	}
}

// addressOf returns container c's address on the first of nets where
// name names it: its own name, its short ID, or one of its aliases there.
func addressOf(s *store.Store, c *store.Container, name string, nets []string) (netip.Addr, bool) {
	cfg, err := ContainerConfig(c)
	if err != nil {
		return netip.Addr{}, false
	}
	all, err := tugnet.SavedAll(s, c.ID)
	if err != nil {
		return netip.Addr{}, false
	}
	for _, st := range all {
		// the short ID too, as docker's DNS answers it
		named := c.Name == name || c.ID[:12] == name || slices.Contains(cfg.nets().aliasesOn(st.Network), name)
		if a, err := netip.ParseAddr(st.IPAddress); err == nil && named && slices.Contains(nets, st.Network) {
			return a, true
		}
	}
	return netip.Addr{}, false
}
