package store

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"tug/internal/smallfile"
)

// Container is a container's record: what it was created from and with.
// Spec is run's business; the store keeps it opaque.
type Container struct {
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	Image     v1.Hash           `json:"image"`
	ImageName string            `json:"image_name"`
	Created   time.Time         `json:"created"`
	Labels    map[string]string `json:"labels,omitempty"`
	// Volumes are the names of the volumes the container mounts: none
	// of them can be removed while the record exists.
	Volumes []string `json:"volumes,omitempty"`
	// Pod is the ID of the pod the container belongs to, for good.
	Pod  string          `json:"pod,omitempty"`
	Spec json.RawMessage `json:"spec"`
	// specs are views of Spec decoded already (DecodeSpec), shared by
	// the copies of one record that a caching store hands out
	specs *specViews
}

// ContainerState is what happened to a container since it was created.
// Pids come with their start times (clock ticks after boot) and the boot
// ID, so that a reused pid is never taken for the container.
type ContainerState struct {
	Status       string `json:"status"` // created, running, restarting, exited
	Pid          int    `json:"pid,omitempty"`
	PidStart     uint64 `json:"pid_start,omitempty"`
	MonitorPid   int    `json:"monitor_pid,omitempty"`
	MonitorStart uint64 `json:"monitor_start,omitempty"`
	// Holder is, for a container no process runs in (a pod's infra
	// container that its monitor holds: Pid is the monitor then), the
	// thread of the monitor whose namespaces are the container's.
	Holder        int       `json:"holder,omitempty"`
	BootID        string    `json:"boot_id,omitempty"`
	ExitCode      int       `json:"exit_code"`
	OOMKilled     bool      `json:"oom_killed,omitempty"`
	StartedAt     time.Time `json:"started_at,omitzero"`
	FinishedAt    time.Time `json:"finished_at,omitzero"`
	Error         string    `json:"error,omitempty"`
	Restarts      int       `json:"restarts,omitempty"`
	StopRequested bool      `json:"stop_requested,omitempty"`
	Paused        bool      `json:"paused,omitempty"` // running, its processes frozen
	// Health, with a healthcheck, is its state in docker's shape: read
	// from the container's health record (HealthFile), never written
	// with the state.
	Health *Health `json:"-"`
	// RestartRequested starts the container again when it exits,
	// whatever its restart policy: --health-on-failure restart.
	RestartRequested bool `json:"restart_requested,omitempty"`
}

// Health is a container's health, as docker's State.Health has it.
type Health struct {
	Status        string         `json:"Status"` // starting, healthy or unhealthy
	FailingStreak int            `json:"FailingStreak"`
	Log           []HealthResult `json:"Log"` // the last few probes, oldest first
}

// HealthResult is one run of a healthcheck's probe.
type HealthResult struct {
	Start    time.Time `json:"Start"`
	End      time.Time `json:"End"`
	ExitCode int       `json:"ExitCode"`
	Output   string    `json:"Output"`
}

// Health statuses.
const (
	HealthStarting  = "starting"
	HealthHealthy   = "healthy"
	HealthUnhealthy = "unhealthy"
)

// Container statuses.
const (
	StatusCreated    = "created"
	StatusRunning    = "running"
	StatusRestarting = "restarting" // between runs under a restart policy
	StatusExited     = "exited"
)

// ErrNameInUse is returned when a container name is taken.
var ErrNameInUse = errors.New("name already in use")

// containerName is docker's rule for container names.
var containerName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// ContainerDir returns the directory of container id: config.json,
// state.json, and the overlay's upper and work dirs.
func (s *Store) ContainerDir(id string) string {
	return filepath.Join(s.root, "containers", id)
}

// NewContainerID returns a random 64-hex-digit ID.
func NewContainerID() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// CreateContainer records c and makes its directory, with upper and work
// dirs for the overlay. A name that is taken or malformed is refused.
func (s *Store) CreateContainer(c *Container) error {
	return s.CreateContainerWith(c, nil)
}

// CreateContainerWith is CreateContainer for a container that mounts
// vols: each is made unless it exists (a named volume is created on
// first use, as docker does), and the container is recorded under the
// volumes lock, so that a volume rm sees either the container or no
// volume. c.Volumes names them.
func (s *Store) CreateContainerWith(c *Container, vols []*Volume) error {
	if len(vols) > 0 {
		vlock, err := s.LockVolumes()
		if err != nil {
			return err
		}
		defer vlock.Unlock()
		for _, v := range vols {
			got, err := s.createVolumeLocked(v)
			if err != nil {
				return err
			}
			*v = *got // the record as stored, New if this call made (or emptied) it
		}
	}
	lock, all, err := s.claimName(c.Name)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	for _, o := range all {
		if o.Name == c.Name {
			return fmt.Errorf("container name %q is used by container %s: %w; remove it or pick another name", c.Name, o.ID[:12], ErrNameInUse)
		}
	}
	// Build the dir under a temp name and rename it into place, so a
	// crash never leaves a container dir without its record.
	parent := filepath.Join(s.root, "containers")
	tmp, err := os.MkdirTemp(parent, ".new-")
	if err != nil {
		return fmt.Errorf("create container: %w", err)
	}
	defer os.RemoveAll(tmp)
	for _, d := range []string{"upper", "work"} {
		if err := os.Mkdir(filepath.Join(tmp, d), 0o755); err != nil {
			return fmt.Errorf("create container: %w", err)
		}
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	// No fsync: a container record lost to a power cut is a container
	// never created, never a corrupt one, and every fsync here would be
	// paid on each start.
	if err := replaceFile(filepath.Join(tmp, "config.json"), b, 0o600, false); err != nil {
		return err
	}
	if err := os.Rename(tmp, s.ContainerDir(c.ID)); err != nil {
		return fmt.Errorf("create container: %w", err)
	}
	return nil
}

// ErrCorrupt marks a record that cannot be read.
var ErrCorrupt = errors.New("corrupt record")

// BadRecord is an entry of containers/ whose record cannot be read: a
// damaged config.json, or a stray file. It blocks no other container;
// tug rm -f ID removes it.
type BadRecord struct {
	ID   string // the entry's name
	Path string
	Err  error
}

func (b *BadRecord) Error() string {
	return fmt.Sprintf("container %s: %s %s: %v (tug rm -f %s removes it)", b.ID, ErrCorrupt, b.Path, b.Err, b.ID)
}

// Unwrap makes a BadRecord an ErrCorrupt.
func (b *BadRecord) Unwrap() error { return ErrCorrupt }

// Containers returns every readable container record, newest first.
func (s *Store) Containers() ([]*Container, error) {
	good, _, err := s.ScanContainers()
	return good, err
}

// ScanContainers returns every container record, newest first, and the
// entries whose record cannot be read. It finishes removals that a
// killed tug rm left half done.
func (s *Store) ScanContainers() ([]*Container, []*BadRecord, error) {
	if s.scans.Add(1) == 2 {
		// a process that scans twice (inspect, rm or stop of several by
		// name or short ID: a scan each) scans again: keep what it reads
		s.CacheRecords()
	}
	dir := filepath.Join(s.root, "containers")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("list containers: %w", err)
	}
	var bad []*BadRecord
	var ids []string
	for _, e := range entries {
		if id, ok := strings.CutPrefix(e.Name(), ".rm-"); ok {
			s.finishRemove(id) // renamed away by an rm that was killed
			continue
		}
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if !e.IsDir() {
			bad = append(bad, &BadRecord{ID: e.Name(), Path: filepath.Join(dir, e.Name()), Err: errors.New("not a container directory")})
			continue
		}
		ids = append(ids, e.Name())
	}
	read := make([]*Container, len(ids))
	errs := make([]error, len(ids))
	s.Each(len(ids), func(i int) { read[i], errs[i] = s.readContainer(ids[i]) })
	if rc := s.records.Load(); rc != nil {
		rc.keepOnly(ids)
	}
	var out []*Container
	for i, id := range ids {
		switch err := errs[i]; {
		case errors.Is(err, ErrNotFound):
			if _, serr := os.Lstat(s.ContainerDir(id)); serr == nil {
				bad = append(bad, &BadRecord{ID: id, Path: s.ContainerDir(id), Err: errors.New("no config.json")})
			} // else removed meanwhile: rm renames the whole dir away
		case err != nil:
			bad = append(bad, &BadRecord{ID: id, Path: filepath.Join(s.ContainerDir(id), "config.json"), Err: err})
		default:
			out = append(out, read[i])
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out, bad, nil
}

func (s *Store) readContainer(id string) (*Container, error) {
	path := filepath.Join(s.ContainerDir(id), "config.json")
	rc := s.records.Load()
	if rc == nil {
		return decodeContainer(id, path)
	}
	return rc.records.read(id, path, func() (*Container, error) {
		c, err := decodeContainer(id, path)
		if err == nil { // its copies share the views of its spec
			c.specs = &specViews{m: map[reflect.Type]any{}}
		}
		return c, err
	})
}

func decodeContainer(id, path string) (*Container, error) {
	b, err := smallfile.Read(path)
	if os.IsNotExist(err) {
		return nil, fmt.Errorf("container %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read container %s: %w", id, err)
	}
	var c Container
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, err
	}
	if c.ID != id {
		return nil, fmt.Errorf("records container %q", c.ID)
	}
	return &c, nil
}

// LookupContainer finds a container by exact name, full ID or unique ID
// prefix.
func (s *Store) LookupContainer(ref string) (*Container, error) {
	// a whole ID is read alone: the API and inspect of many look up
	// each by its ID, and a scan each time made that quadratic
	if len(ref) == 64 && isHex(ref) {
		if c, err := s.readContainer(ref); err == nil {
			return c, nil
		}
	}
	all, bad, err := s.ScanContainers()
	if err != nil {
		return nil, err
	}
	if c, err := byNameOrID(all, ref, "container", func(c *Container) (string, string) { return c.Name, c.ID }); c != nil || err != nil {
		return c, err
	}
	for _, b := range bad {
		if b.ID == ref || (isHex(ref) && strings.HasPrefix(b.ID, ref)) {
			return nil, b
		}
	}
	return nil, &NoSuch{"container", ref}
}

// State reads a container's state; a container never started is
// "created".
func (s *Store) State(id string) (*ContainerState, error) {
	path := filepath.Join(s.ContainerDir(id), "state.json")
	decode := func() (ContainerState, error) { return decodeState(id, path) }
	var st ContainerState
	var err error
	if rc := s.records.Load(); rc != nil {
		st, err = rc.states.read(id, path, decode)
	} else {
		st, err = decode()
	}
	if err != nil {
		return nil, err
	}
	st.Health, err = s.health(id)
	return &st, err
}

func decodeState(id, path string) (ContainerState, error) {
	st := ContainerState{Status: StatusCreated}
	b, err := smallfile.Read(path)
	switch {
	case os.IsNotExist(err):
	case err != nil:
		return st, fmt.Errorf("read state of %s: %w", id, err)
	default:
		if err := json.Unmarshal(b, &st); err != nil {
			return st, fmt.Errorf("container %s: corrupt state: %w", id, err)
		}
	}
	return st, nil
}

// SetState records a container's state atomically. It does not fsync:
// state only matters while the machine is up (a reboot ends every
// container), and readers reconcile it with the process anyway; a rename
// still makes it safe against a kill at any instant.
func (s *Store) SetState(id string, st *ContainerState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return replaceFile(filepath.Join(s.ContainerDir(id), "state.json"), b, 0o600, false)
}

// LockContainer takes container id's lock, which orders its state
// changes: start, stop, rm, and the monitor's records.
func (s *Store) LockContainer(id string) (*Lock, error) {
	return lockPath(s.lockFile("container-" + id))
}

// SaveContainer rewrites a container's record (its spec, after tug
// update) atomically.
func (s *Store) SaveContainer(c *Container) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return replaceFile(filepath.Join(s.ContainerDir(c.ID), "config.json"), b, 0o600, false)
}

// claimName checks that name is well formed, takes the containers lock
// under which names are given, and returns it with every container.
func (s *Store) claimName(name string) (*Lock, []*Container, error) {
	if !containerName.MatchString(name) {
		return nil, nil, fmt.Errorf("invalid container name %q: only [a-zA-Z0-9][a-zA-Z0-9_.-]* are allowed", name)
	}
	lock, err := lockPath(s.lockFile("containers"))
	if err != nil {
		return nil, nil, err
	}
	s.sweepCreates()
	all, err := s.Containers()
	if err != nil {
		lock.Unlock()
		return nil, nil, err
	}
	return lock, all, nil
}

// RenameContainer gives container id a new, unused name.
func (s *Store) RenameContainer(id, name string) error {
	lock, all, err := s.claimName(name)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	var c *Container
	for _, o := range all {
		if o.Name == name && o.ID != id {
			return fmt.Errorf("container name %q is used by container %s: %w", name, o.ID[:12], ErrNameInUse)
		}
		if o.ID == id {
			c = o
		}
	}
	if c == nil {
		return &NoSuch{"container", id}
	}
	old := c.Name
	c.Name = name
	if err := s.SaveContainer(c); err != nil {
		return err
	}
	s.Emit("container", "rename", c.ID, map[string]string{"name": name, "oldName": old, "image": c.ImageName})
	return nil
}

// RemoveContainer deletes a container's record and files: a rename,
// under the short containers lock, makes it vanish at once; the tree is
// removed after the lock is let go, so that no other container's create
// waits on a large delete.
func (s *Store) RemoveContainer(id string) error {
	trash := filepath.Join(s.root, "containers", ".rm-"+id)
	lock, err := lockPath(s.lockFile("containers"))
	if err != nil {
		return err
	}
	err = os.Rename(s.ContainerDir(id), trash)
	lock.Unlock()
	if os.IsNotExist(err) {
		return &NoSuch{"container", id}
	}
	if err != nil {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	if err := s.finishRemove(id); err != nil {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	return nil
}

// finishRemove deletes a removed container's renamed tree and its lock
// file. A kill -9 of tug rm leaves both: the next tug that lists
// containers calls this again, and two at once do no harm.
func (s *Store) finishRemove(id string) error {
	trash := filepath.Join(s.root, "containers", ".rm-"+id)
	// tug mount's mount of the rootfs goes first: removing the tree must
	// not delete through it
	unix.Unmount(filepath.Join(trash, "merged"), unix.MNT_DETACH)
	if err := os.RemoveAll(trash); err != nil {
		return err
	}
	os.Remove(s.lockFile("container-" + id))
	return nil
}

// sweepCreates removes the temp dirs of creates that were killed. The
// caller holds the containers lock, which every create holds from its
// temp dir to its rename: any such dir left is a dead create's.
func (s *Store) sweepCreates() {
	left, _ := filepath.Glob(filepath.Join(s.root, "containers", ".new-*"))
	for _, d := range left {
		os.RemoveAll(d)
	}
}

// imageInUse tells whether some container was created from image id.
func (s *Store) imageInUse(id v1.Hash) (bool, error) {
	all, err := s.Containers()
	if err != nil {
		return false, err
	}
	for _, c := range all {
		if c.Image == id {
			return true, nil
		}
	}
	return false, nil
}
