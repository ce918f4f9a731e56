package compose

// A rootless tug has no bridge networks, so a rootless project's
// services share one pod instead, as podman-compose's do: its network
// (pasta), the published ports of them all, and an /etc/hosts that
// names every service and container 127.0.0.1, so they reach each other
// by name as on a project network. The pod carries a hash of what it
// was made with; when the ports or names change, up makes it anew, and
// its containers with it.

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"time"

	"tug/compose/plan"
	"tug/pod"
	"tug/run"
	"tug/store"
)

// LabelPodHash is the label of a rootless project's pod: the hash of its
// ports and names.
const LabelPodHash = "io.tug.compose.pod-hash"

// PodName is the name of a rootless project's pod, podman-compose's.
func PodName(project string) string { return "pod_" + project }

// podNetwork is what the project's pod carries: every service's
// published ports, and its services' and containers' names as hosts.
func podNetwork(p *plan.Project) (ports, hosts []string) {
	for _, svc := range p.Services {
		ports = append(ports, svc.Ports...)
		names := []string{svc.Name}
		for n := 1; n <= max(svc.Scale, 1); n++ {
			names = append(names, containerName(p, svc, n))
		}
		for _, name := range names {
			hosts = append(hosts, name+":127.0.0.1")
		}
	}
	slices.Sort(hosts)
	return ports, slices.Compact(hosts)
}

// ensurePod is the rootless project's pod, made (or made anew) as the
// project now needs it.
func ensurePod(s *store.Store, p *plan.Project, opt UpOptions) (*store.Pod, error) {
	ports, hosts := podNetwork(p)
	sum := sha256.Sum256([]byte(strings.Join(ports, ",") + "\n" + strings.Join(hosts, ",")))
	hash := hex.EncodeToString(sum[:])
	name := PodName(p.Name)
	old, err := s.LookupPod(name)
	switch {
	case err == nil && old.Labels[LabelPodHash] == hash:
		return old, nil
	case err == nil:
		if err := pod.Remove(s, old, true, 10*time.Second); err != nil {
			return nil, err
		}
		reportTo(opt.Report, "Pod", name, "Removed")
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	infra := opt.Base
	infra.Publish, infra.AddHosts = ports, hosts
	pd, err := pod.Create(s, pod.Options{Name: name, Share: "net", Infra: infra,
		Labels: []string{LabelProject + "=" + p.Name, LabelPodHash + "=" + hash}})
	if err != nil {
		return nil, err
	}
	reportTo(opt.Report, "Pod", name, "Created")
	return pd, nil
}

// inPod makes o, a container's options, those of a member of pd: the
// pod's network takes the place of the container's own.
func inPod(pd *store.Pod, o *run.Options) error {
	o.Network, o.IP, o.Aliases, o.Publish, o.PublishAll, o.Hostname = "", "", nil, nil, false, ""
	o.AddHosts, o.DNS, o.DNSSearch, o.DNSOptions = nil, nil, nil, nil
	return pod.Join(pd, o)
}

// removePod removes the rootless project's pod, if it has one.
func removePod(s *store.Store, p *plan.Project, opt DownOptions) error {
	pd, err := s.LookupPod(PodName(p.Name))
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err == nil {
		err = pod.Remove(s, pd, true, max(opt.Timeout, 0))
	}
	if err == nil {
		reportTo(opt.Report, "Pod", pd.Name, "Removed")
	}
	return err
}
