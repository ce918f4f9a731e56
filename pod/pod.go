// Package pod makes and runs pods, podman's: containers that share
// namespaces (network, IPC and UTS by default, pid on request) held by
// the pod's infra container. The infra container runs no image's code,
// and is made from a layer-less image made here, so nothing is pulled:
// its monitor, tug's keeper, holds the namespaces on one of its threads,
// so a pod costs that one process besides its members (run/hold.go).
// A pod that shares its pid namespace needs a pid 1 in it: tug's own
// reaper in its pause role (run/child), a second process.
package pod

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"tug/run"
	"tug/store"
)

// Namespaces are what --share may name.
var namespaces = []string{"net", "ipc", "uts", "pid"}

// DefaultShare is what a pod's members share without --share, podman's.
const DefaultShare = "net,ipc,uts"

// Options are pod create's flags.
type Options struct {
	Name   string
	Labels []string // K=V
	Share  string   // comma-separated namespaces; "" for DefaultShare
	// Infra holds the infra container's options: the network, ports,
	// hostname, hosts and DNS that its members share, and the config's
	// settings (subnet, storage driver, cgroup manager).
	Infra run.Options
}

// Create records a new pod and its infra container, not started.
func Create(s *store.Store, opt Options) (*store.Pod, error) {
	share, err := parseShare(opt.Share)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(share, "net") && (len(opt.Infra.Publish) > 0 || opt.Infra.Network != "") {
		return nil, errors.New("--publish and --network configure the pod's shared network: they need --share net")
	}
	if !slices.Contains(share, "uts") && opt.Infra.Hostname != "" {
		return nil, errors.New("--hostname is the pod's shared hostname: it needs --share uts")
	}
	labels, err := run.ParseLabels(opt.Labels)
	if err != nil {
		return nil, fmt.Errorf("--label: %w", err)
	}
	id, err := store.NewContainerID()
	if err != nil {
		return nil, err
	}
	if opt.Name == "" {
		opt.Name = run.RandomName()
	}
	if err := s.PodNameFree(opt.Name); err != nil { // before the infra container is made; CreatePod checks again
		return nil, err
	}
	p := &store.Pod{ID: id, Name: opt.Name, Labels: labels, Share: share}
	infra, err := createInfra(s, p, opt.Infra)
	if err != nil {
		return nil, err
	}
	p.Infra, p.Created = infra.ID, infra.Created
	// the infra container first: a crash between the two leaves a
	// container of no pod, which rm removes, never a pod without one
	if err := s.CreatePod(p); err != nil {
		run.Remove(s, infra, true)
		return nil, err
	}
	return p, nil
}

// parseShare reads --share: namespaces from net, ipc, uts and pid.
func parseShare(v string) ([]string, error) {
	if v == "" {
		v = DefaultShare
	}
	var out []string
	for _, ns := range strings.Split(v, ",") {
		if !slices.Contains(namespaces, ns) {
			return nil, fmt.Errorf("--share %q: %q is not a namespace a pod shares: want net, ipc, uts or pid", v, ns)
		}
		if !slices.Contains(out, ns) {
			out = append(out, ns)
		}
	}
	return out, nil
}

// createInfra records the infra container of pod p: opt's network and
// names, and the namespaces shared, which its monitor holds (with pid,
// tug's pause as its pid 1).
func createInfra(s *store.Store, p *store.Pod, opt run.Options) (*store.Container, error) {
	img, err := infraImage(s)
	if err != nil {
		return nil, err
	}
	opt.Name, opt.Pod, opt.PodInfra, opt.InfraPID = p.ID[:12]+"-infra", p.ID, true, p.Shares("pid")
	if p.Shares("uts") && opt.Hostname == "" {
		opt.Hostname = p.Name
	}
	if p.Shares("ipc") {
		opt.IPC = "shareable"
	}
	if !p.Shares("net") {
		opt.Network = "none"
	}
	return run.Create(s, img, InfraImage, opt)
}

// Join fills in opt, the options of a new container of pod p: it joins
// the namespaces the pod shares, and may not set what they fix.
func Join(p *store.Pod, opt *run.Options) error {
	if opt.Pod != "" && opt.Pod != p.ID {
		return errors.New("a container joins one pod")
	}
	infra := "container:" + p.Infra
	if opt.Hostname != "" && (p.Shares("uts") || p.Shares("net")) {
		return fmt.Errorf("--hostname: the members of pod %s have its hostname (tug pod create --hostname)", p.Name)
	}
	if p.Shares("net") {
		if err := noNetworkFlags(opt); err != nil {
			return err
		}
		opt.Network = infra
	}
	for _, j := range []struct {
		ns, flag string
		to       *string
	}{{"ipc", "--ipc", &opt.IPC}, {"uts", "--uts", &opt.UTS}, {"pid", "--pid", &opt.PID}} {
		if !p.Shares(j.ns) {
			continue
		}
		if *j.to != "" {
			return fmt.Errorf("%s: the pod %s shares its %s namespace with its members", j.flag, p.Name, j.ns)
		}
		*j.to = infra
	}
	opt.Pod = p.ID
	return nil
}

// noNetworkFlags refuses the flags that configure a network a pod's
// member does not have: it is the pod's.
func noNetworkFlags(opt *run.Options) error {
	for _, f := range []struct {
		flag string
		set  bool
	}{
		{"--network", opt.Network != ""}, {"--publish", len(opt.Publish) > 0 || opt.PublishAll}, {"--ip", opt.IP != ""},
		{"--mac-address", opt.MacAddress != ""}, {"--dns", len(opt.DNS)+len(opt.DNSSearch)+len(opt.DNSOptions) > 0},
		{"--add-host", len(opt.AddHosts) > 0}, {"--network-alias", len(opt.Aliases) > 0},
	} {
		if f.set {
			return fmt.Errorf("%s: a pod's members share its network, which the pod configures (tug pod create %s)", f.flag, f.flag)
		}
	}
	return nil
}

// MoveNetwork takes from opt, a container's options under --pod
// new:NAME, what configures the network and hostname, and returns them
// as the new pod's (podman's: -p and --network go to the pod).
func MoveNetwork(opt *run.Options) run.Options {
	infra := run.Options{
		Network: opt.Network, Publish: opt.Publish, PublishAll: opt.PublishAll, Hostname: opt.Hostname,
		DNS: opt.DNS, DNSSearch: opt.DNSSearch, DNSOptions: opt.DNSOptions, AddHosts: opt.AddHosts,
		Subnet: opt.Subnet, StrictLimits: opt.StrictLimits, StorageDriver: opt.StorageDriver,
		ForceDriver: opt.ForceDriver, CgroupManager: opt.CgroupManager,
	}
	opt.Network, opt.Publish, opt.PublishAll, opt.Hostname = "", nil, false, ""
	opt.DNS, opt.DNSSearch, opt.DNSOptions, opt.AddHosts = nil, nil, nil, nil
	return infra
}
