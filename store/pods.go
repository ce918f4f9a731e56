package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"tug/internal/smallfile"
)

// Pod is a pod's record, <root>/pods/<id>.json: a group of containers
// that share the namespaces its infra container holds. Its members name
// it in their records (Container.Pod); the pod does not list them, so
// that creating or removing a member never rewrites the pod.
type Pod struct {
	ID      string            `json:"id"`
	Name    string            `json:"name"`
	Created time.Time         `json:"created"`
	Labels  map[string]string `json:"labels,omitempty"`
	// Infra is the ID of the container that holds the shared namespaces.
	Infra string `json:"infra"`
	// Share is the namespaces the members share: net, ipc, uts, pid.
	Share []string `json:"share"`
}

// Shares tells whether the pod's members share namespace ns.
func (p *Pod) Shares(ns string) bool { return slices.Contains(p.Share, ns) }

func (s *Store) podsDir() string { return filepath.Join(s.root, "pods") }

// lockPods takes the lock under which pods are created and removed.
func (s *Store) lockPods() (*Lock, error) {
	if err := os.MkdirAll(s.podsDir(), 0o700); err != nil {
		return nil, fmt.Errorf("pods: %w", err)
	}
	return lockPath(s.lockFile("pods"))
}

// CreatePod records p; a name that is taken or malformed is refused.
func (s *Store) CreatePod(p *Pod) error {
	lock, err := s.lockPods()
	if err != nil {
		return err
	}
	defer lock.Unlock()
	if err := s.PodNameFree(p.Name); err != nil {
		return err
	}
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	return WriteFileAtomic(filepath.Join(s.podsDir(), p.ID+".json"), b, 0o600)
}

// PodNameFree refuses a name a pod has already, or a malformed one.
func (s *Store) PodNameFree(name string) error {
	if !containerName.MatchString(name) {
		return fmt.Errorf("invalid pod name %q: only [a-zA-Z0-9][a-zA-Z0-9_.-]* are allowed", name)
	}
	pods, err := s.Pods()
	if err != nil {
		return err
	}
	for _, o := range pods {
		if o.Name == name {
			return fmt.Errorf("pod name %q is used by pod %s: %w; remove it or pick another name", name, o.ID[:12], ErrNameInUse)
		}
	}
	return nil
}

// Pods returns every pod, oldest first.
func (s *Store) Pods() ([]*Pod, error) {
	entries, err := os.ReadDir(s.podsDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	var out []*Pod
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || strings.HasPrefix(id, ".") {
			continue // a temp file a killed tug left
		}
		p, err := s.readPod(id)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

func (s *Store) readPod(id string) (*Pod, error) {
	b, err := smallfile.Read(filepath.Join(s.podsDir(), id+".json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, &NoSuch{"pod", id}
	}
	if err != nil {
		return nil, fmt.Errorf("read pod %s: %w", id, err)
	}
	var p Pod
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("pod %s: %w: %v", id, ErrCorrupt, err)
	}
	return &p, nil
}

// LookupPod finds a pod by name, ID or unique ID prefix.
func (s *Store) LookupPod(ref string) (*Pod, error) {
	pods, err := s.Pods()
	if err != nil {
		return nil, err
	}
	p, err := byNameOrID(pods, ref, "pod", func(p *Pod) (string, string) { return p.Name, p.ID })
	if p == nil && err == nil {
		return nil, &NoSuch{"pod", ref}
	}
	return p, err
}

// PodMembers returns the containers of pod id, the infra container
// among them, oldest first.
func (s *Store) PodMembers(id string) ([]*Container, error) {
	all, err := s.Containers()
	if err != nil {
		return nil, err
	}
	var out []*Container
	for _, c := range all {
		if c.Pod == id {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

// RemovePod removes pod id's record; its containers must be gone.
func (s *Store) RemovePod(id string) error {
	lock, err := s.lockPods()
	if err != nil {
		return err
	}
	defer lock.Unlock()
	err = os.Remove(filepath.Join(s.podsDir(), id+".json"))
	if errors.Is(err, os.ErrNotExist) {
		return &NoSuch{"pod", id}
	}
	if err != nil {
		return fmt.Errorf("remove pod: %w", err)
	}
	return syncDir(s.podsDir())
}

// LockPod takes pod id's lock, under which its infra container is
// started: members that start at once start it once.
func (s *Store) LockPod(id string) (*Lock, error) {
	return lockPath(s.lockFile("pod-" + id))
}
