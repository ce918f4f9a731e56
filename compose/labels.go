package compose

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"tug/compose/plan"
	"tug/run"
	"tug/store"
)

// docker compose's labels, which tug's containers, networks and volumes
// carry so that docker compose through tug's API sees the same project.
const (
	LabelProject     = "com.docker.compose.project"
	LabelService     = "com.docker.compose.service"
	LabelNumber      = "com.docker.compose.container-number"
	LabelOneoff      = "com.docker.compose.oneoff"
	LabelHash        = "com.docker.compose.config-hash"
	LabelWorkingDir  = "com.docker.compose.project.working_dir"
	LabelConfigFiles = "com.docker.compose.project.config_files"
	LabelNetwork     = "com.docker.compose.network"
	LabelVolume      = "com.docker.compose.volume"
	LabelVersion     = "com.docker.compose.version"
	LabelDependsOn   = "com.docker.compose.depends_on"
	LabelImage       = "com.docker.compose.image"
)

// version is the docker compose version tug's labels claim to be made
// by: the one whose labels they are.
const version = "2.40.0"

// configHash is what up compares to tell that a service's container is
// out of date: its resolved config, without what does not make the
// container (scale and depends_on), and the image it runs.
func configHash(svc plan.Service, image string) string {
	svc.Scale, svc.DependsOn = 0, nil
	b, _ := json.Marshal(struct {
		Service plan.Service `json:"service"`
		Image   string       `json:"image"`
	}{svc, image})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Containers are the project's containers (not one-off ones unless
// oneoff), by service, then number.
func Containers(s *store.Store, project string, oneoff bool) ([]*store.Container, error) {
	all, err := s.Containers()
	if err != nil {
		return nil, err
	}
	var out []*store.Container
	for _, c := range all {
		if c.Labels[LabelProject] == project && (oneoff || c.Labels[LabelOneoff] != "True") {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b *store.Container) int {
		return cmp.Or(cmp.Compare(a.Labels[LabelService], b.Labels[LabelService]), cmp.Compare(number(a), number(b)), cmp.Compare(a.Name, b.Name))
	})
	return out, nil
}

// number is a container's number in its service, 0 if it has none.
func number(c *store.Container) int {
	n, _ := strconv.Atoi(c.Labels[LabelNumber])
	return n
}

// ofService are those of ctrs that are service's.
func ofService(ctrs []*store.Container, service string) []*store.Container {
	var out []*store.Container
	for _, c := range ctrs {
		if c.Labels[LabelService] == service {
			out = append(out, c)
		}
	}
	return out
}

// Select are the project's containers of the named services (all with
// none), in dependency order, then by number; a name that is not a
// service of the project is an error.
func Select(s *store.Store, p *plan.Project, services []string) ([]*store.Container, error) {
	for _, name := range services {
		if _, ok := Service(p, name); !ok {
			return nil, fmt.Errorf("no such service: %s", name)
		}
	}
	ctrs, err := Containers(s, p.Name, false)
	if err != nil {
		return nil, err
	}
	var out []*store.Container
	for _, svc := range p.Services {
		if len(services) == 0 || slices.Contains(services, svc.Name) {
			out = append(out, ofService(ctrs, svc.Name)...)
		}
	}
	return out, nil
}

// Each runs fn on every container at once, and joins the errors, each
// after its container's name.
func Each(ctrs []*store.Container, fn func(*store.Container) error) error {
	return run.Each(ctrs, func(c *store.Container) error {
		if err := fn(c); err != nil {
			return fmt.Errorf("%s: %w", c.Name, err)
		}
		return nil
	})
}

// Numbered is container n of the project's service.
func Numbered(s *store.Store, p *plan.Project, service string, n int) (*store.Container, error) {
	if _, ok := Service(p, service); !ok {
		return nil, fmt.Errorf("no such service: %s: %w", service, store.ErrNotFound)
	}
	ctrs, err := Containers(s, p.Name, false)
	if err != nil {
		return nil, err
	}
	for _, c := range ofService(ctrs, service) {
		if number(c) == n {
			return c, nil
		}
	}
	return nil, fmt.Errorf("service %s has no container %d: %w", service, n, store.ErrNotFound)
}
