// Package kube runs Kubernetes YAML on this machine (kube play and
// down) and writes it from pods and containers (kube generate). The
// YAML itself is read and written by tug's helper (kube/cmd/tug-kube,
// with k8s.io/api's types), which hands back a plan in tug's terms
// (kube/plan); this package carries it out with pods, containers and
// volumes.
package kube

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"tug/kube/plan"
	"tug/pod"
	"tug/run"
	"tug/run/health"
	"tug/store"
)

// Options are kube play's flags and what the command line resolves.
type Options struct {
	Replace bool   // remove pods of the same names first
	Network string // the pods' network, for those without hostNetwork
	Start   bool   // start the pods (--start, the default)
	// Base holds the run options every container and infra container
	// gets from the config: subnet, storage driver, cgroup manager.
	Base run.Options
	// Image resolves a container's image under its pull policy
	// (always, missing or never), pulling it as tug run would.
	Image func(ref, policy string) (*store.Image, error)
}

// Played is what kube play made: each pod with its containers.
type Played struct {
	Pod        *store.Pod
	Containers []*store.Container
}

// Play makes (and with Start, starts) the pods of p.
func Play(s *store.Store, p *plan.Plan, opt Options) ([]Played, error) {
	if err := clearNames(s, p, opt.Replace); err != nil {
		return nil, err
	}
	// the pods are made and started all at once, as a cluster's nodes
	// would: each one's starts wait on one another (infra first, init
	// containers in order), the pods' do not
	played := make([]*Played, len(p.Pods))
	errs := make([]error, len(p.Pods))
	var wg sync.WaitGroup
	for i, pp := range p.Pods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if played[i], errs[i] = playPod(s, pp, opt); errs[i] != nil {
				errs[i] = fmt.Errorf("pod %s: %w", pp.Name, errs[i])
			}
		}()
	}
	wg.Wait()
	var out []Played
	for _, pl := range played {
		if pl != nil {
			out = append(out, *pl)
		}
	}
	return out, errors.Join(errs...)
}

// clearNames refuses pods whose names are taken, before anything is
// made, or with replace removes them.
func clearNames(s *store.Store, p *plan.Plan, replace bool) error {
	for _, pp := range p.Pods {
		old, err := s.LookupPod(pp.Name)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if !replace {
			return fmt.Errorf("pod %s exists: kube play --replace replaces it: %w", pp.Name, store.ErrNameInUse)
		}
		if err := removePod(s, old, pp, 0); err != nil {
			return err
		}
	}
	return nil
}

// playPod makes one pod: the pod, its files, its containers (init
// ones first), and starts it.
func playPod(s *store.Store, pp plan.Pod, opt Options) (*Played, error) {
	share := pod.DefaultShare
	if pp.ShareProcess {
		share += ",pid"
	}
	infra := opt.Base
	infra.Hostname, infra.Publish, infra.Network = pp.Hostname, pp.Ports, opt.Network
	if pp.HostNetwork {
		infra.Network = "host"
	}
	labels := []string{LabelKind + "=" + pp.Kind, LabelOwner + "=" + pp.Owner}
	for k, v := range pp.Labels {
		labels = append(labels, k+"="+v)
	}
	p, err := pod.Create(s, pod.Options{Name: pp.Name, Labels: labels, Share: share, Infra: infra})
	if err != nil {
		return nil, err
	}
	played := &Played{Pod: p}
	fail := func(err error) (*Played, error) {
		removePod(s, p, pp, 0)
		return nil, err
	}
	files, err := writeFiles(s, pp)
	if err != nil {
		return fail(err)
	}
	for i, c := range allContainers(pp) {
		restart := pp.Restart
		if i < len(pp.Init) {
			restart = "no" // an init container runs once
		}
		ctr, err := createContainer(s, p, pp.Name, c, restart, files, opt)
		if err != nil {
			return fail(fmt.Errorf("container %s: %w", c.Name, err))
		}
		played.Containers = append(played.Containers, ctr)
	}
	if !opt.Start {
		return played, nil
	}
	return played, startPod(s, p, played.Containers, len(pp.Init))
}

// allContainers are the pod's containers, its init containers first.
func allContainers(pp plan.Pod) []plan.Container {
	return append(append([]plan.Container{}, pp.Init...), pp.Containers...)
}

// startPod starts the infra container while the init containers run one
// after another, each to a successful end (they wait for it), then
// starts the others.
func startPod(s *store.Store, p *store.Pod, ctrs []*store.Container, inits int) error {
	wait := pod.StartAhead(s, p)
	return errors.Join(startMembers(s, ctrs, inits), wait())
}

func startMembers(s *store.Store, ctrs []*store.Container, inits int) error {
	for _, c := range ctrs[:inits] {
		if err := run.StartDetached(s, c); err != nil {
			return fmt.Errorf("init container %s: %w", c.Name, err)
		}
		code, err := run.Wait(s, c)
		if err != nil {
			return err
		}
		if code != 0 {
			return fmt.Errorf("init container %s exited with %d: the pod's containers are not started", c.Name, code)
		}
	}
	var errs []error
	for _, c := range ctrs[inits:] {
		errs = append(errs, run.StartDetached(s, c))
	}
	return errors.Join(errs...)
}

// The labels kube play gives its pods: the kind and name of the object
// each comes from.
const (
	LabelKind  = "io.tug.kube.kind"
	LabelOwner = "io.tug.kube.owner"
)

// createContainer records one container of pod p from c.
func createContainer(s *store.Store, p *store.Pod, podName string, c plan.Container, restart string, files string, opt Options) (*store.Container, error) {
	img, err := opt.Image(c.Image, c.Pull)
	if err != nil {
		return nil, err
	}
	o := opt.Base
	o.Name, o.Cmd, o.Env, o.Workdir, o.User = podName+"-"+c.Name, c.Cmd, c.Env, c.WorkingDir, c.User
	if len(c.Entrypoint) > 0 {
		// command replaces the image's entrypoint and, when args are
		// not given, its cmd too, as the kubelet does
		o.EntrypointSet, o.Entrypoint = true, c.Entrypoint[:1]
		o.Cmd = append(append([]string{}, c.Entrypoint[1:]...), c.Cmd...)
	}
	o.Restart, o.Tty, o.Interactive, o.ReadOnly = restart, c.Tty, c.Stdin, c.ReadOnly
	o.Security.Privileged, o.Security.CapAdd, o.Security.CapDrop = c.Privileged, c.CapAdd, c.CapDrop
	if c.Memory > 0 {
		o.Limits.Memory = strconv.FormatInt(c.Memory, 10)
	}
	if c.NanoCPUs > 0 {
		o.Limits.Cpus = strconv.FormatFloat(float64(c.NanoCPUs)/1e9, 'f', -1, 64)
	}
	for _, m := range c.Mounts {
		v, err := volumeFlag(m, files)
		if err != nil {
			return nil, err
		}
		o.Volumes = append(o.Volumes, v)
	}
	if h := c.Health; h != nil {
		o.Health, err = healthFlags(h)
		if err != nil {
			return nil, err
		}
	}
	if err := pod.Join(p, &o); err != nil {
		return nil, err
	}
	return run.Create(s, img, c.Image, o)
}

// volumeFlag is m as -v takes it.
func volumeFlag(m plan.Mount, files string) (string, error) {
	src := m.Source
	switch m.Type {
	case "bind":
		if m.Create {
			if err := os.MkdirAll(src, 0o755); err != nil {
				return "", fmt.Errorf("hostPath %s: %w", src, err)
			}
		}
	case "files":
		src = filepath.Join(files, m.Source)
	case "volume":
	default:
		return "", fmt.Errorf("volume %s: unknown type %q", m.Source, m.Type)
	}
	v := src + ":" + m.Destination
	if m.ReadOnly {
		v += ":ro"
	}
	return v, nil
}

// healthFlags is a probe as --health-* flags.
func healthFlags(h *plan.Probe) (health.Flags, error) {
	test, err := json.Marshal(h.Test)
	if err != nil {
		return health.Flags{}, err
	}
	f := health.Flags{Cmd: string(test), Interval: secs(h.IntervalSecs), Timeout: secs(h.TimeoutSecs),
		StartPeriod: secs(h.StartSecs), Retries: h.Retries}
	if h.RestartOnFail {
		f.OnFailure = "restart"
	}
	return f, nil
}

func secs(n int) time.Duration { return time.Duration(n) * time.Second }

// filesDir is where the files of pod name's configMap and secret
// volumes are.
func filesDir(s *store.Store, name string) string {
	return filepath.Join(s.Root(), "kube", name)
}

// writeFiles writes the pod's configMap and secret volumes' files into
// a directory of their own, made afresh, and returns it. Each path was
// checked by the helper to stay inside its volume; it is checked again
// here, and nothing in the directory is a link, since tug made it all.
func writeFiles(s *store.Store, pp plan.Pod) (string, error) {
	dir := filesDir(s, pp.Name)
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	if len(pp.Files) == 0 {
		return dir, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	if err := writeKinds(dir, pp); err != nil {
		return "", err
	}
	for vol, files := range pp.Files {
		if !filepath.IsLocal(vol) || strings.Contains(vol, "/") {
			return "", fmt.Errorf("volume name %q", vol)
		}
		if err := os.MkdirAll(filepath.Join(dir, vol), 0o755); err != nil {
			return "", err
		}
		for name, f := range files {
			if !filepath.IsLocal(name) {
				return "", fmt.Errorf("volume %s: file %q is not inside it", vol, name)
			}
			path := filepath.Join(dir, vol, name)
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return "", err
			}
			if err := os.WriteFile(path, f.Data, os.FileMode(f.Mode&0o777)); err != nil {
				return "", err
			}
		}
	}
	return dir, nil
}

// kindsFile, beside a pod's volumes' files, says which volumes are
// secrets', for kube generate.
const kindsFile = ".secrets.json"

func writeKinds(dir string, pp plan.Pod) error {
	secrets := map[string]bool{}
	for _, c := range allContainers(pp) {
		for _, m := range c.Mounts {
			if m.Type == "files" && m.Secret {
				secrets[m.Source] = true
			}
		}
	}
	b, err := json.Marshal(secrets)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, kindsFile), b, 0o600)
}

// removePod removes a played pod with its containers, the files of its
// volumes and its emptyDir volumes.
func removePod(s *store.Store, p *store.Pod, pp plan.Pod, timeout time.Duration) error {
	if err := pod.Remove(s, p, true, timeout); err != nil {
		return err
	}
	for _, c := range allContainers(pp) {
		for _, m := range c.Mounts {
			if m.Type == "volume" && m.Ephemeral {
				if err := s.RemoveVolume(m.Source); err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
			}
		}
	}
	return os.RemoveAll(filesDir(s, p.Name))
}

// Down removes the pods of p, as kube down does: their containers, the
// files and emptyDir volumes; the claims' volumes stay unless
// volumes. It returns the pods removed; one that is gone already is
// passed over.
func Down(s *store.Store, p *plan.Plan, timeout time.Duration, volumes bool) ([]*store.Pod, error) {
	var removed []*store.Pod
	var errs []error
	for _, pp := range p.Pods {
		old, err := s.LookupPod(pp.Name)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err == nil {
			err = removePod(s, old, pp, timeout)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, old)
	}
	if volumes {
		for _, v := range p.Volumes {
			if err := s.RemoveVolume(v); err != nil && !errors.Is(err, store.ErrNotFound) {
				errs = append(errs, err)
			}
		}
	}
	return removed, errors.Join(errs...)
}

// BuildContext is where kube play --build finds ref's build: the
// directory ./NAME of the current one, NAME being the image's name
// without its registry, path or tag, when it holds a Containerfile or
// a Dockerfile (its name is returned too).
func BuildContext(ref string) (dir, file string, ok bool) {
	name := ref[strings.LastIndexByte(ref, '/')+1:]
	if i := strings.IndexAny(name, ":@"); i >= 0 {
		name = name[:i]
	}
	if !filepath.IsLocal(name) {
		return "", "", false
	}
	for _, f := range []string{"Containerfile", "Dockerfile"} {
		if fi, err := os.Stat(filepath.Join(name, f)); err == nil && fi.Mode().IsRegular() {
			abs, err := filepath.Abs(name)
			return abs, f, err == nil
		}
	}
	return "", "", false
}
