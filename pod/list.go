package pod

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"tug/internal/human"
	"tug/run"
	"tug/store"
)

// A pod's status, podman's words, from its containers' (the infra
// container's included).
const (
	StatusCreated  = "Created"  // none has run
	StatusRunning  = "Running"  // all run
	StatusDegraded = "Degraded" // some run
	StatusPaused   = "Paused"   // all that run are paused
	StatusExited   = "Exited"   // none runs now
)

// Status is the pod's status.
func Status(s *store.Store, p *store.Pod) (string, error) {
	ctrs, err := s.PodMembers(p.ID)
	if err != nil {
		return "", err
	}
	states := make([]string, 0, len(ctrs))
	for _, c := range ctrs {
		st, err := run.State(s, c)
		if err != nil {
			return "", err
		}
		states = append(states, run.StatusWord(st))
	}
	return statusOf(states), nil
}

// statusOf sums up containers' states (run.StatusWord's).
func statusOf(states []string) string {
	count := map[string]int{}
	for _, st := range states {
		count[st]++
	}
	running, paused := count[store.StatusRunning]+count[store.StatusRestarting], count[run.StatusPaused]
	switch {
	case len(states) == 0 || count[store.StatusCreated] == len(states):
		return StatusCreated
	case paused > 0 && running == 0:
		return StatusPaused
	case running+paused == len(states):
		return StatusRunning
	case running+paused > 0:
		return StatusDegraded
	}
	return StatusExited
}

// Row is one pod as pod ps lists it, in podman's template names.
type Row struct {
	ID                 string
	Name               string
	Status             string
	Created            string // "5 minutes ago"
	InfraID            string
	NumberOfContainers int
	Labels             string
	Networks           string
	ContainerNames     string
	labels             map[string]string
	fullID             string
}

// List returns every pod, newest first, as its row, those filters
// match (name=, id=, label=K[=V], status=; values of one key ORed).
func List(s *store.Store, filters map[string][]string, noTrunc bool) ([]Row, error) {
	pods, err := s.Pods()
	if err != nil {
		return nil, err
	}
	var rows []Row
	for i := len(pods) - 1; i >= 0; i-- {
		r, err := rowOf(s, pods[i], noTrunc)
		if err != nil {
			continue // removed meanwhile
		}
		if match(filters, r) {
			rows = append(rows, r)
		}
	}
	return rows, nil
}

// CheckFilters refuses a filter pod ps does not know.
func CheckFilters(filters map[string][]string) error {
	for k, vs := range filters {
		switch k {
		case "name", "id", "label":
		case "status":
			for _, v := range vs {
				if !slices.Contains([]string{"created", "running", "degraded", "paused", "exited"}, v) {
					return fmt.Errorf("--filter status=%s: want created, running, degraded, paused or exited", v)
				}
			}
		default:
			return fmt.Errorf("--filter %s: want name=, id=, label= or status=", k)
		}
	}
	return nil
}

func match(filters map[string][]string, r Row) bool {
	for k, vs := range filters {
		if !slices.ContainsFunc(vs, func(v string) bool {
			switch k {
			case "name":
				return strings.Contains(r.Name, v)
			case "id":
				return strings.HasPrefix(r.fullID, v)
			case "status":
				return strings.EqualFold(r.Status, v)
			case "label":
				key, want, hasValue := strings.Cut(v, "=")
				got, ok := r.labels[key]
				return ok && (!hasValue || got == want)
			}
			return false
		}) {
			return false
		}
	}
	return true
}

func rowOf(s *store.Store, p *store.Pod, noTrunc bool) (Row, error) {
	status, err := Status(s, p)
	if err != nil {
		return Row{}, err
	}
	ctrs, err := s.PodMembers(p.ID)
	if err != nil {
		return Row{}, err
	}
	r := Row{ID: p.ID, Name: p.Name, Status: status, Created: human.Ago(p.Created), InfraID: p.Infra,
		NumberOfContainers: len(ctrs), labels: p.Labels, fullID: p.ID}
	var names, labels []string
	for _, c := range ctrs {
		names = append(names, c.Name)
		if c.ID == p.Infra {
			if cfg, err := run.ContainerConfig(c); err == nil {
				r.Networks = cfg.Network
			}
		}
	}
	for k, v := range p.Labels {
		labels = append(labels, k+"="+v)
	}
	slices.Sort(labels)
	r.ContainerNames, r.Labels = strings.Join(names, ","), strings.Join(labels, ",")
	if !noTrunc {
		r.ID, r.InfraID = r.ID[:12], r.InfraID[:12]
	}
	return r, nil
}

// Inspect is podman's view of a pod that pod inspect prints.
type Inspect struct {
	ID               string            `json:"Id"`
	Name             string            `json:"Name"`
	Created          time.Time         `json:"Created"`
	State            string            `json:"State"`
	Hostname         string            `json:"Hostname"`
	Labels           map[string]string `json:"Labels"`
	CreateInfra      bool              `json:"CreateInfra"`
	InfraContainerID string            `json:"InfraContainerID"`
	SharedNamespaces []string          `json:"SharedNamespaces"`
	NumContainers    int               `json:"NumContainers"`
	Containers       []InspectMember   `json:"Containers"`
	InfraConfig      InfraConfig       `json:"InfraConfig"`
}

// InspectMember is one container in Inspect.
type InspectMember struct {
	ID    string `json:"Id"`
	Name  string `json:"Name"`
	State string `json:"State"`
}

// InfraConfig is what the pod's infra container gives its members.
type InfraConfig struct {
	NetworkMode  string              `json:"NetworkMode"`
	PortBindings map[string][]string `json:"PortBindings"`
}

// InspectPod returns p as pod inspect shows it.
func InspectPod(s *store.Store, p *store.Pod) (*Inspect, error) {
	status, err := Status(s, p)
	if err != nil {
		return nil, err
	}
	ctrs, err := s.PodMembers(p.ID)
	if err != nil {
		return nil, err
	}
	v := &Inspect{ID: p.ID, Name: p.Name, Created: p.Created, State: status, Labels: p.Labels, CreateInfra: true,
		InfraContainerID: p.Infra, SharedNamespaces: p.Share, NumContainers: len(ctrs), Containers: []InspectMember{}}
	if v.Labels == nil {
		v.Labels = map[string]string{}
	}
	for _, c := range ctrs {
		st, err := run.State(s, c)
		if err != nil {
			return nil, err
		}
		v.Containers = append(v.Containers, InspectMember{ID: c.ID, Name: c.Name, State: run.StatusWord(st)})
		if c.ID != p.Infra {
			continue
		}
		ci, err := run.Inspect(s, c)
		if err != nil {
			return nil, err
		}
		v.Hostname = ci.Config.Hostname
		v.InfraConfig = InfraConfig{NetworkMode: ci.HostConfig.NetworkMode, PortBindings: ci.NetworkSettings.Ports}
	}
	return v, nil
}
