package compose

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"tug/compose/plan"
	tugnet "tug/net"
	"tug/run"
	"tug/store"
)

// UpOptions are compose up's flags, and what the command line resolves.
type UpOptions struct {
	Services      []string       // only these, and what they depend on (unless NoDeps)
	NoDeps        bool           // not the services they depend on
	ForceRecreate bool           // recreate containers even when up to date
	NoRecreate    bool           // never recreate a container that exists
	RemoveOrphans bool           // remove containers of services the files no longer have
	Scale         map[string]int // --scale SERVICE=N, over the files' scale
	Wait          bool           // --wait: until the containers run, and are healthy where they have a healthcheck
	WaitTimeout   time.Duration  // how long Wait waits; 0 for ever
	NoStart       bool           // create, do not start
	Base          run.Options    // what every container gets from the config
	Subnet        string         // the config's default subnet, for networks
	// Image resolves a service's image: pulled or built as its pull
	// policy and build section say.
	Image func(svc plan.Service) (*store.Image, error)
	// Report hears of each step: kind (Network, Volume, Container), name,
	// and what happened (Created, Started, Recreated, Running…).
	Report func(kind, name, what string)
}

// Up makes the project's networks and volumes and reconciles each
// service's containers with its config: it creates what is missing,
// recreates what changed, starts what is stopped and leaves the rest.
// Services start in dependency order, those independent at once, each
// once its dependencies meet their conditions.
func Up(s *store.Store, p *plan.Project, opt UpOptions) error {
	services, err := selected(p, opt.Services, opt.NoDeps)
	if err != nil {
		return err
	}
	var pd *store.Pod
	if s.Rootless() {
		pd, err = ensurePod(s, p, opt)
	} else {
		err = ensureNetworks(s, p, services, opt)
	}
	if err != nil {
		return err
	}
	if err := ensureVolumes(s, p, opt); err != nil {
		return err
	}
	existing, err := Containers(s, p.Name, false)
	if err != nil {
		return err
	}
	if err := orphans(s, p, existing, opt); err != nil {
		return err
	}
	done := map[string]chan struct{}{}
	errs := map[string]error{}
	for _, svc := range services {
		done[svc.Name] = make(chan struct{})
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, svc := range services {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(done[svc.Name])
			err := awaitDependencies(s, p, svc, done, errs, &mu)
			if err == nil {
				err = reconcile(s, p, pd, svc, ofService(existing, svc.Name), opt)
			}
			mu.Lock()
			errs[svc.Name] = err
			mu.Unlock()
		}()
	}
	wg.Wait()
	var all []error
	for _, svc := range services {
		if err := errs[svc.Name]; err != nil {
			all = append(all, fmt.Errorf("service %s: %w", svc.Name, err))
		}
	}
	if err := errors.Join(all...); err != nil || !opt.Wait || opt.NoStart {
		return err
	}
	return waitHealthy(s, p, services, opt.WaitTimeout)
}

// selected are the services up works on, in dependency order: names and
// what they depend on, or all.
func selected(p *plan.Project, names []string, noDeps bool) ([]plan.Service, error) {
	if len(names) == 0 {
		return p.Services, nil
	}
	want := map[string]bool{}
	var add func(name string) error
	add = func(name string) error {
		svc, ok := Service(p, name)
		if !ok {
			return fmt.Errorf("no such service: %s", name)
		}
		if want[name] {
			return nil
		}
		want[name] = true
		if noDeps {
			return nil
		}
		for _, d := range svc.DependsOn {
			if _, ok := Service(p, d.Service); ok || d.Required {
				if err := add(d.Service); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for _, name := range names {
		if err := add(name); err != nil {
			return nil, err
		}
	}
	var out []plan.Service
	for _, svc := range p.Services {
		if want[svc.Name] {
			out = append(out, svc)
		}
	}
	return out, nil
}

// Service is the project's service of that name.
func Service(p *plan.Project, name string) (plan.Service, bool) {
	for _, svc := range p.Services {
		if svc.Name == name {
			return svc, true
		}
	}
	return plan.Service{}, false
}

// ensureNetworks makes the project's networks the services use, or
// checks that an external one is there.
func ensureNetworks(s *store.Store, p *plan.Project, services []plan.Service, opt UpOptions) error {
	used := map[string]bool{}
	for _, svc := range services {
		for _, sn := range svc.Networks {
			used[sn.Key] = true
		}
	}
	for _, n := range p.Networks {
		if !used[n.Key] {
			continue
		}
		_, err := tugnet.Lookup(s, n.Name, opt.Subnet)
		switch {
		case err == nil:
			continue
		case !errors.Is(err, store.ErrNotFound):
			return err
		case n.External:
			return fmt.Errorf("network %s is external, and there is no such network: make it with tug network create", n.Name)
		}
		lbls := map[string]string{LabelProject: p.Name, LabelNetwork: n.Key, LabelVersion: version}
		maps.Copy(lbls, n.Labels)
		_, err = tugnet.Create(s, n.Name, tugnet.CreateOptions{Subnet: n.Subnet, Gateway: n.Gateway, Internal: n.Internal, Labels: lbls}, opt.Subnet)
		if err != nil && !errors.Is(err, tugnet.ErrExists) {
			return fmt.Errorf("network %s: %w", n.Name, err)
		}
		reportTo(opt.Report, "Network", n.Name, "Created")
	}
	return nil
}

// ensureVolumes makes the project's named volumes, or checks that an
// external one is there.
func ensureVolumes(s *store.Store, p *plan.Project, opt UpOptions) error {
	for _, v := range p.Volumes {
		_, err := s.LookupVolume(v.Name)
		switch {
		case err == nil:
			continue
		case !errors.Is(err, store.ErrNotFound):
			return err
		case v.External:
			return fmt.Errorf("volume %s is external, and there is no such volume: make it with tug volume create", v.Name)
		}
		lbls := map[string]string{LabelProject: p.Name, LabelVolume: v.Key, LabelVersion: version}
		maps.Copy(lbls, v.Labels)
		if _, err := s.CreateVolume(&store.Volume{Name: v.Name, Driver: "local", Labels: lbls, Options: v.Options}); err != nil {
			return fmt.Errorf("volume %s: %w", v.Name, err)
		}
		reportTo(opt.Report, "Volume", v.Name, "Created")
	}
	return nil
}

// orphans removes, with RemoveOrphans, the containers of services the
// project no longer has, and otherwise warns of them.
func orphans(s *store.Store, p *plan.Project, existing []*store.Container, opt UpOptions) error {
	var names []string
	for _, c := range existing {
		if _, ok := Service(p, c.Labels[LabelService]); ok || slices.Contains(p.Disabled, c.Labels[LabelService]) {
			continue
		}
		if !opt.RemoveOrphans {
			names = append(names, c.Name)
			continue
		}
		if err := run.RemoveRef(s, c.ID, run.RemoveOptions{Force: true, Timeout: 10 * time.Second}); err != nil {
			return err
		}
		reportTo(opt.Report, "Container", c.Name, "Removed")
	}
	if len(names) > 0 {
		reportTo(opt.Report, "Warning", fmt.Sprintf("orphan containers %v of services the project no longer has", names), "run up --remove-orphans to remove them")
	}
	return nil
}

// awaitDependencies waits until svc's dependencies are up, then until
// each meets its condition.
func awaitDependencies(s *store.Store, p *plan.Project, svc plan.Service, done map[string]chan struct{}, errs map[string]error, mu *sync.Mutex) error {
	for _, d := range svc.DependsOn {
		ch, ok := done[d.Service]
		if !ok {
			continue // not selected (--no-deps), or not enabled
		}
		<-ch
		mu.Lock()
		err := errs[d.Service]
		mu.Unlock()
		if err != nil {
			return fmt.Errorf("dependency %s failed", d.Service)
		}
		if err := meet(s, p, d); err != nil {
			return err
		}
	}
	return nil
}

// meet waits until the containers of d's service meet its condition:
// started (they are, once up), healthy, or exited 0.
func meet(s *store.Store, p *plan.Project, d plan.Dependency) error {
	ctrs, err := Containers(s, p.Name, false)
	if err != nil {
		return err
	}
	for _, c := range ofService(ctrs, d.Service) {
		switch d.Condition {
		case "service_healthy":
			if err := awaitHealthy(s, c, 0); err != nil {
				return fmt.Errorf("dependency %s: %w", d.Service, err)
			}
		case "service_completed_successfully":
			code, err := run.Wait(s, c)
			if err != nil {
				return err
			}
			if code != 0 {
				return fmt.Errorf("dependency %s: container %s exited with %d", d.Service, c.Name, code)
			}
		}
	}
	return nil
}

// awaitHealthy waits until c is healthy (or, with no healthcheck,
// running), for up to limit (0: for ever); an exited or unhealthy c
// fails it.
func awaitHealthy(s *store.Store, c *store.Container, limit time.Duration) error {
	start := time.Now()
	for ; limit == 0 || time.Since(start) < limit; time.Sleep(100 * time.Millisecond) {
		st, err := run.State(s, c)
		if err != nil {
			return err
		}
		switch {
		case st.Status != store.StatusRunning && st.Status != store.StatusRestarting:
			return fmt.Errorf("container %s is %s (exit code %d)", c.Name, st.Status, st.ExitCode)
		case st.Health == nil && st.Status == store.StatusRunning:
			return nil
		case st.Health != nil && st.Health.Status == store.HealthHealthy:
			return nil
		case st.Health != nil && st.Health.Status == store.HealthUnhealthy:
			return fmt.Errorf("container %s is unhealthy", c.Name)
		}
	}
	return fmt.Errorf("container %s: not healthy after %s", c.Name, limit)
}

// waitHealthy is up --wait: every container of the services running,
// and healthy where it has a healthcheck.
func waitHealthy(s *store.Store, p *plan.Project, services []plan.Service, limit time.Duration) error {
	ctrs, err := Containers(s, p.Name, false)
	if err != nil {
		return err
	}
	var errs []error
	for _, svc := range services {
		for _, c := range ofService(ctrs, svc.Name) {
			errs = append(errs, awaitHealthy(s, c, limit))
		}
	}
	return errors.Join(errs...)
}

// reconcile brings svc's containers to its scale and config; with pd
// (rootless) they join that pod.
func reconcile(s *store.Store, p *plan.Project, pd *store.Pod, svc plan.Service, have []*store.Container, opt UpOptions) error {
	img, err := opt.Image(svc)
	if err != nil {
		return err
	}
	hash := configHash(svc, img.ID.String())
	scale := svc.Scale
	if n, ok := opt.Scale[svc.Name]; ok {
		scale = n
	}
	byNumber := map[int]*store.Container{}
	for _, c := range have {
		if n := number(c); n < 1 || n > scale || byNumber[n] != nil {
			if err := removeContainer(s, c, svc, opt); err != nil {
				return err
			}
		} else {
			byNumber[n] = c
		}
	}
	// one at a time: their names, addresses and ports come in order
	for n := 1; n <= scale; n++ {
		if err := reconcileOne(s, p, pd, svc, n, byNumber[n], img, hash, opt); err != nil {
			return err
		}
	}
	return nil
}

// reconcileOne brings container n of svc (c, nil if there is none) to
// date: made, recreated if its config changed, started if stopped.
func reconcileOne(s *store.Store, p *plan.Project, pd *store.Pod, svc plan.Service, n int, c *store.Container, img *store.Image, hash string, opt UpOptions) error {
	what := "Created"
	if c != nil {
		stale := c.Labels[LabelHash] != hash || opt.ForceRecreate
		if !stale || opt.NoRecreate {
			return ensureStarted(s, c, opt)
		}
		if err := removeContainer(s, c, svc, opt); err != nil {
			return err
		}
		what = "Recreated"
	}
	o, more, err := containerOptions(p, svc, n, hash, opt.Base)
	if err != nil {
		return err
	}
	if pd != nil {
		more = nil // the pod's network is all
		if err := inPod(pd, &o); err != nil {
			return err
		}
	}
	c, err = run.Create(s, img, svc.Image, o)
	if err != nil {
		return err
	}
	for _, a := range more {
		if err := run.Connect(s, c, a.network, a.ip, a.aliases, opt.Subnet); err != nil {
			return err
		}
	}
	reportTo(opt.Report, "Container", c.Name, what)
	if opt.NoStart {
		return nil
	}
	return ensureStarted(s, c, opt)
}

// ensureStarted starts c unless it runs.
func ensureStarted(s *store.Store, c *store.Container, opt UpOptions) error {
	st, err := run.State(s, c)
	if err != nil {
		return err
	}
	if st.Status == store.StatusRunning || opt.NoStart {
		reportTo(opt.Report, "Container", c.Name, "Running")
		return nil
	}
	if err := run.StartDetached(s, c); err != nil {
		return fmt.Errorf("start %s: %w", c.Name, err)
	}
	reportTo(opt.Report, "Container", c.Name, "Started")
	return nil
}

// removeContainer stops c (in its service's grace period) and removes it.
func removeContainer(s *store.Store, c *store.Container, svc plan.Service, opt UpOptions) error {
	timeout := 10 * time.Second
	if svc.StopTimeout != nil {
		timeout = time.Duration(*svc.StopTimeout) * time.Second
	}
	if err := run.RemoveRef(s, c.ID, run.RemoveOptions{Force: true, Timeout: timeout}); err != nil {
		return err
	}
	reportTo(opt.Report, "Container", c.Name, "Removed")
	return nil
}

// Plan asks the helper for the project in tug's terms.
func Plan(project plan.Options) (*plan.Project, error) {
	out, err := ask(plan.Request{Project: project, Plan: true})
	if err != nil {
		return nil, err
	}
	var p plan.Project
	if err := json.Unmarshal(out, &p); err != nil {
		return nil, fmt.Errorf("the compose helper's plan: %w", err)
	}
	return &p, nil
}
