package kube

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"tug/kube/plan"
	"tug/pod"
	"tug/run"
	"tug/run/childspec"
	"tug/store"
)

// Generate writes Kubernetes YAML for the pods and containers refs
// name (a container of no pod becomes a pod of its own, NAME-pod): Pods,
// or Deployments with kind "deployment", and with service a NodePort
// Service for each that publishes ports.
func Generate(s *store.Store, refs []string, kind string, service bool) ([]byte, error) {
	var pods []plan.Pod
	for _, ref := range refs {
		pp, err := describe(s, ref)
		if err != nil {
			return nil, err
		}
		pods = append(pods, *pp)
	}
	return ask(plan.Request{Generate: &plan.GenerateRequest{Pods: pods, Type: kind, Service: service}})
}

// describe is the pod ref names (a pod, or else a container).
func describe(s *store.Store, ref string) (*plan.Pod, error) {
	if p, err := s.LookupPod(ref); err == nil {
		return describePod(s, p)
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	c, err := s.LookupContainer(ref)
	if err != nil {
		return nil, fmt.Errorf("%s: no such pod or container: %w", ref, store.ErrNotFound)
	}
	if c.Pod != "" {
		return nil, fmt.Errorf("container %s is in a pod: generate the pod", c.Name)
	}
	cfg, err := run.ContainerConfig(c)
	if err != nil {
		return nil, err
	}
	out := &plan.Pod{Name: c.Name + "-pod", Ports: publishedPorts(cfg), Restart: cfg.Restart.Name, HostNetwork: cfg.Network == "host"}
	ctr, err := describeContainer(s, out, c, cfg)
	if err != nil {
		return nil, err
	}
	out.Containers = []plan.Container{*ctr}
	return out, nil
}

func describePod(s *store.Store, p *store.Pod) (*plan.Pod, error) {
	infra, members, err := pod.Members(s, p)
	if err != nil {
		return nil, err
	}
	if len(members) == 0 {
		return nil, fmt.Errorf("pod %s has no containers to generate", p.Name)
	}
	out := &plan.Pod{Name: p.Name, ShareProcess: p.Shares("pid")}
	for k, v := range p.Labels {
		if !strings.HasPrefix(k, "io.tug.") {
			if out.Labels == nil {
				out.Labels = map[string]string{}
			}
			out.Labels[k] = v
		}
	}
	if infra != nil {
		cfg, err := run.ContainerConfig(infra)
		if err != nil {
			return nil, err
		}
		out.Ports, out.HostNetwork = publishedPorts(cfg), cfg.Network == "host"
		if h := cfg.Spec.Hostname; h != p.Name {
			out.Hostname = h
		}
	}
	for _, c := range members {
		cfg, err := run.ContainerConfig(c)
		if err != nil {
			return nil, err
		}
		ctr, err := describeContainer(s, out, c, cfg)
		if err != nil {
			return nil, err
		}
		ctr.Name = strings.TrimPrefix(c.Name, p.Name+"-")
		out.Restart = cfg.Restart.Name
		out.Containers = append(out.Containers, *ctr)
	}
	return out, nil
}

// publishedPorts are a container's -p, as [IP:]HOSTPORT:PORT/PROTO.
func publishedPorts(cfg *run.Config) []string {
	var out []string
	for _, p := range cfg.Ports {
		spec := fmt.Sprintf("%d:%d/%s", p.HostPort, p.ContainerPort, p.Proto)
		if p.HostIP.IsValid() {
			spec = p.HostIP.String() + ":" + spec
		}
		out = append(out, spec)
	}
	return out
}

// describeContainer is c in kube generate's terms: its whole command
// (as Kubernetes' command, so that it runs as here), the environment
// beyond its image's, its mounts, limits and privileges.
func describeContainer(s *store.Store, pp *plan.Pod, c *store.Container, cfg *run.Config) (*plan.Container, error) {
	spec := cfg.Spec
	out := &plan.Container{Name: c.Name, Image: c.ImageName, Entrypoint: spec.Args, Tty: spec.Tty, Stdin: cfg.Interactive,
		Privileged: spec.Privileged, ReadOnly: spec.ReadOnly, Memory: cfg.Resources.Memory}
	if cfg.Resources.CPUQuota > 0 && cfg.Resources.CPUPeriod > 0 {
		out.NanoCPUs = cfg.Resources.CPUQuota * 1_000_000_000 / cfg.Resources.CPUPeriod
	}
	var imageEnv []string
	imageDir := "/"
	if img, err := s.LookupImage(c.Image.Hex); err == nil {
		if ic, err := s.Config(img); err == nil {
			imageEnv, imageDir = ic.Config.Env, ic.Config.WorkingDir
		}
	}
	for _, e := range spec.Env {
		if !slices.Contains(imageEnv, e) && e != run.DefaultPath && !strings.HasPrefix(e, "HOSTNAME=") && !strings.HasPrefix(e, "HOME=") && e != "TERM=xterm" {
			out.Env = append(out.Env, e)
		}
	}
	if spec.Cwd != imageDir && spec.Cwd != "/" {
		out.WorkingDir = spec.Cwd
	}
	if u := spec.User; u != "" {
		out.User = u
	}
	if !spec.Privileged {
		defaults := childspec.DefaultCaps()
		for _, cp := range spec.Caps {
			if !slices.Contains(defaults, cp) {
				out.CapAdd = append(out.CapAdd, strings.TrimPrefix(cp, "CAP_"))
			}
		}
		for _, cp := range defaults {
			if !slices.Contains(spec.Caps, cp) {
				out.CapDrop = append(out.CapDrop, strings.TrimPrefix(cp, "CAP_"))
			}
		}
	}
	files := filesDir(s, pp.Name) + string(filepath.Separator)
	for _, m := range spec.Mounts {
		switch {
		case strings.HasPrefix(m.Source, files):
			fm, err := describeFiles(pp, files, m)
			if err != nil {
				return nil, err
			}
			out.Mounts = append(out.Mounts, fm)
		case m.Volume != "":
			out.Mounts = append(out.Mounts, plan.Mount{Type: "volume", Source: m.Volume, Destination: m.Destination, ReadOnly: m.ReadOnly})
		case m.Destination == "/etc/localtime" || m.Destination == "/dev/shm":
			// --tz's and the shared /dev/shm: this host's, not the pod's
		default:
			out.Mounts = append(out.Mounts, plan.Mount{Type: "bind", Source: m.Source, Destination: m.Destination, ReadOnly: m.ReadOnly})
		}
	}
	if h := cfg.Health; h != nil && len(h.Test) > 0 {
		test := h.Test
		if test[0] == "CMD-SHELL" && len(test) == 2 {
			test = []string{"CMD", "/bin/sh", "-c", test[1]}
		}
		out.Health = &plan.Probe{Test: test, IntervalSecs: int(h.Interval.Seconds()), TimeoutSecs: int(h.Timeout.Seconds()),
			StartSecs: int(h.StartPeriod.Seconds()), Retries: h.Retries}
	}
	return out, nil
}

// describeFiles is a mount of a played pod's configMap or secret volume
// (under dir, the pod's files), its files read into pp.Files, so that
// the YAML carries them as a ConfigMap or a Secret again.
func describeFiles(pp *plan.Pod, dir string, m run.Mount) (plan.Mount, error) {
	vol := strings.TrimPrefix(m.Source, dir)
	out := plan.Mount{Type: "files", Source: vol, Destination: m.Destination, ReadOnly: m.ReadOnly}
	if b, err := os.ReadFile(filepath.Join(dir, kindsFile)); err == nil {
		var secrets map[string]bool
		if json.Unmarshal(b, &secrets) == nil {
			out.Secret = secrets[vol]
		}
	}
	if pp.Files == nil {
		pp.Files = map[string]map[string]plan.File{}
	}
	files := map[string]plan.File{}
	err := filepath.WalkDir(m.Source, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(m.Source, path)
		files[filepath.ToSlash(rel)] = plan.File{Data: data, Mode: uint32(fi.Mode().Perm())}
		return nil
	})
	pp.Files[vol] = files
	return out, err
}
