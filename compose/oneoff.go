package compose

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"

	"tug/compose/plan"
	"tug/run"
	"tug/store"
)

// RunOptions are compose run's flags: what a one-off container of a
// service changes from the service's config.
type RunOptions struct {
	Service       string
	Cmd           []string // the command, over the service's
	Entrypoint    []string // with EntrypointSet, over the service's
	EntrypointSet bool
	Env           []string // K=V, added
	Labels        []string // K=V, added
	Volumes       []string // -v, added
	User, Workdir string
	Name          string   // --name, else PROJECT-SERVICE-run-ID
	Publish       []string // -p: the ports published (the service's only with ServicePorts)
	ServicePorts  bool
	Remove        bool // --rm
	Tty           bool
	Interactive   bool
	NoDeps        bool // the services it depends on are not started
}

// CreateOneOff records a one-off container of a service, as docker
// compose run makes one: the service's config with opt's changes, its
// restart policy and (unless asked) its ports left out, labelled
// oneoff; the services it depends on are brought up first (up's
// options), and its networks and volumes made.
func CreateOneOff(s *store.Store, p *plan.Project, opt RunOptions, up UpOptions) (*store.Container, error) {
	svc, ok := Service(p, opt.Service)
	if !ok {
		return nil, fmt.Errorf("no such service: %s", opt.Service)
	}
	var deps []string
	for _, d := range svc.DependsOn {
		if _, ok := Service(p, d.Service); ok && !opt.NoDeps {
			deps = append(deps, d.Service)
		}
	}
	if len(deps) > 0 {
		up.Services = deps
		if err := Up(s, p, up); err != nil {
			return nil, err
		}
	}
	var pd *store.Pod
	var err error
	if s.Rootless() {
		pd, err = ensurePod(s, p, up)
	} else {
		err = ensureNetworks(s, p, []plan.Service{svc}, up)
	}
	if err == nil {
		err = ensureVolumes(s, p, up)
	}
	if err != nil {
		return nil, err
	}
	img, err := up.Image(svc)
	if err != nil {
		return nil, err
	}
	o, more, err := containerOptions(p, svc, 1, configHash(svc, img.ID.String()), up.Base)
	if err != nil {
		return nil, err
	}
	oneOff(&o, p, svc, opt)
	if pd != nil {
		more = nil
		if err := inPod(pd, &o); err != nil {
			return nil, err
		}
	}
	c, err := run.Create(s, img, svc.Image, o)
	if err != nil {
		return nil, err
	}
	for _, a := range more {
		if err := run.Connect(s, c, a.network, a.ip, a.aliases, up.Subnet); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// oneOff applies opt's changes to o, the options of svc's container.
func oneOff(o *run.Options, p *plan.Project, svc plan.Service, opt RunOptions) {
	id := make([]byte, 6)
	rand.Read(id)
	o.Name = opt.Name
	if o.Name == "" {
		o.Name = fmt.Sprintf("%s-%s-run-%s", p.Name, svc.Name, hex.EncodeToString(id))
	}
	if len(opt.Cmd) > 0 {
		o.Cmd = opt.Cmd
	}
	if opt.EntrypointSet {
		o.Entrypoint, o.EntrypointSet = opt.Entrypoint, true
	}
	if opt.User != "" {
		o.User = opt.User
	}
	if opt.Workdir != "" {
		o.Workdir = opt.Workdir
	}
	if !opt.ServicePorts {
		o.Publish = opt.Publish
	}
	o.Env = append(slices.Clone(o.Env), opt.Env...)
	o.Volumes = append(slices.Clone(o.Volumes), opt.Volumes...)
	o.Restart, o.AutoRemove, o.Tty, o.Interactive = "no", opt.Remove, opt.Tty, opt.Interactive
	labels := append(slices.Clone(o.Labels), opt.Labels...)
	for i, l := range labels {
		if l == LabelOneoff+"=False" {
			labels[i] = LabelOneoff + "=True"
		}
	}
	o.Labels = labels
}
