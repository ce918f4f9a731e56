package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
	"tug/store/archive"

	"golang.org/x/sys/unix"
)

// Volume is a volume's record: <root>/volumes/<name>/volume.json, its
// data beside it in _data (docker's Mountpoint).
type Volume struct {
	Name      string            `json:"name"`
	Driver    string            `json:"driver"` // local
	Labels    map[string]string `json:"labels,omitempty"`
	Options   map[string]string `json:"options,omitempty"`
	CreatedAt time.Time         `json:"created_at"`
	// Anonymous volumes are made for a container (-v /path, an image's
	// VOLUME) and go with it (rm -v, run --rm).
	Anonymous bool `json:"anonymous,omitempty"`
	// New: this call made it (CreateVolume, CreateContainerWith), so it
	// is empty; docker copies the image's content into such a volume.
	New bool `json:"-"`
}

// validVolumeName is docker's rule for volume names.
func validVolumeName(name string) bool {
	return len(name) > 1 && containerName.MatchString(name)
}

func (s *Store) volumesDir() string { return filepath.Join(s.root, "volumes") }

// VolumeData is the directory a volume's containers see.
func (s *Store) VolumeData(name string) string {
	return filepath.Join(s.volumesDir(), name, "_data")
}

// CreateVolume records v and makes its data dir, unless a volume of
// that name exists already, which it returns instead (docker's volume
// create is idempotent). The dir is made under a temp name and renamed
// into place, so a kill never leaves a volume without its record.
func (s *Store) CreateVolume(v *Volume) (*Volume, error) {
	lock, err := s.LockVolumes()
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()
	return s.createVolumeLocked(v)
}

func (s *Store) createVolumeLocked(v *Volume) (*Volume, error) {
	if !validVolumeName(v.Name) {
		return nil, fmt.Errorf("invalid volume name %q: only [a-zA-Z0-9][a-zA-Z0-9_.-]+ are allowed", v.Name)
	}
	if err := validateVolumeOptions(v.Options); err != nil {
		return nil, fmt.Errorf("volume %s: %w", v.Name, err)
	}
	if old, err := s.readVolume(v.Name); err == nil {
		return old, s.resumeCopyUp(old)
	}
	tmp, err := s.volumeTemp()
	if err != nil {
		return nil, fmt.Errorf("create volume: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := os.Mkdir(filepath.Join(tmp, "_data"), 0o755); err != nil {
		return nil, fmt.Errorf("create volume: %w", err)
	}
	if v.Driver == "" {
		v.Driver = "local"
	}
	if v.CreatedAt.IsZero() {
		v.CreatedAt = time.Now().UTC()
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := replaceFile(filepath.Join(tmp, "volume.json"), b, 0o600, true); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, filepath.Join(s.volumesDir(), v.Name)); err != nil {
		return nil, fmt.Errorf("create volume: %w", err)
	}
	v.New = true
	if err := syncDir(s.volumesDir()); err != nil {
		return nil, err
	}
	s.Emit("volume", "create", v.Name, map[string]string{"driver": "local"})
	return v, nil
}

// volumeTemp makes a dir in volumes/.tmp for a volume to be built in
// before it is renamed into place. Under the volumes lock no other build
// runs, so whatever .tmp holds was left by a killed tug: it goes first.
func (s *Store) volumeTemp() (string, error) {
	tmps := filepath.Join(s.volumesDir(), ".tmp")
	if err := os.RemoveAll(tmps); err != nil {
		return "", err
	}
	if err := os.Mkdir(tmps, 0o700); err != nil {
		return "", err
	}
	return os.MkdirTemp(tmps, "new-")
}

// LockVolumes takes the lock under which volumes are made, mounted,
// unmounted and removed, and containers that use them are recorded; it
// makes the volumes dir on first use. It orders before container locks.
func (s *Store) LockVolumes() (*Lock, error) {
	if err := os.MkdirAll(s.volumesDir(), 0o700); err != nil {
		return nil, fmt.Errorf("volumes: %w", err)
	}
	return lockPath(s.lockFile("volumes"))
}

func (s *Store) readVolume(name string) (*Volume, error) {
	if !validVolumeName(name) {
		return nil, &NoSuch{"volume", name}
	}
	b, err := os.ReadFile(filepath.Join(s.volumesDir(), name, "volume.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, &NoSuch{"volume", name}
	}
	if err != nil {
		return nil, fmt.Errorf("read volume %s: %w", name, err)
	}
	var v Volume
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("volume %s: %w: %v", name, ErrCorrupt, err)
	}
	return &v, nil
}

// LookupVolume returns the volume named name.
func (s *Store) LookupVolume(name string) (*Volume, error) { return s.readVolume(name) }

// Volumes returns every volume, by name. Removals a killed tug left half
// done are finished.
func (s *Store) Volumes() ([]*Volume, error) {
	entries, err := os.ReadDir(s.volumesDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list volumes: %w", err)
	}
	var out []*Volume
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".rm-") {
			removeTrash(filepath.Join(s.volumesDir(), e.Name()))
			continue
		}
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if v, err := s.readVolume(e.Name()); err == nil {
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// VolumeUsers lists the containers whose record names volume name.
func (s *Store) VolumeUsers(name string) ([]*Container, error) {
	all, err := s.Containers()
	if err != nil {
		return nil, err
	}
	var out []*Container
	for _, c := range all {
		for _, v := range c.Volumes {
			if v == name {
				out = append(out, c)
				break
			}
		}
	}
	return out, nil
}

// RemoveVolume deletes a volume that no container uses, under the
// volumes lock, so that no container can be recorded on it meanwhile:
// whatever is mounted on its data is detached (a killed tug's mount of
// a bind device must never see its files removed), a rename makes it
// vanish, then the tree goes.
func (s *Store) RemoveVolume(name string) error {
	lock, err := s.LockVolumes()
	if err != nil {
		return err
	}
	defer lock.Unlock()
	if _, err := s.readVolume(name); err != nil {
		return err
	}
	users, err := s.VolumeUsers(name)
	if err != nil {
		return err
	}
	if len(users) > 0 {
		return fmt.Errorf("remove volume %s: %w by container %s; remove it first", name, ErrInUse, users[0].ID[:12])
	}
	if err := s.UnmountVolume(name); err != nil {
		return fmt.Errorf("remove volume %s: %w", name, err)
	}
	trash := filepath.Join(s.volumesDir(), ".rm-"+name)
	if err := removeTrash(trash); err != nil { // a killed rm's of the same name
		return fmt.Errorf("remove volume %s: %w", name, err)
	}
	if err := os.Rename(filepath.Join(s.volumesDir(), name), trash); err != nil {
		return fmt.Errorf("remove volume %s: %w", name, err)
	}
	s.Emit("volume", "destroy", name, map[string]string{"driver": "local"})
	return removeTrash(trash)
}

// removeTrash removes a volume renamed away for removal, never through
// a filesystem still mounted on its data.
func removeTrash(trash string) error {
	if err := unmountAll(filepath.Join(trash, "_data")); err != nil {
		return err
	}
	return os.RemoveAll(trash)
}

// VolumeView is docker's shape of a volume, as volume inspect and ls
// print it.
type VolumeView struct {
	Name       string            `json:"Name"`
	Driver     string            `json:"Driver"`
	Mountpoint string            `json:"Mountpoint"`
	CreatedAt  string            `json:"CreatedAt"`
	Labels     map[string]string `json:"Labels"`
	Options    map[string]string `json:"Options"`
	Scope      string            `json:"Scope"`
}

// View is v in docker's shape.
func (s *Store) View(v *Volume) VolumeView {
	return VolumeView{Name: v.Name, Driver: v.Driver, Mountpoint: s.VolumeData(v.Name),
		CreatedAt: v.CreatedAt.Format(time.RFC3339), Labels: v.Labels, Options: v.Options, Scope: "local"}
}

// SelectVolumes keeps the volumes that every filter matches: docker's
// name= (a substring), label=K[=V], driver= and dangling=true|false (no
// container uses it).
func (s *Store) SelectVolumes(vols []*Volume, filters []string) ([]*Volume, error) {
	var out []*Volume
	for _, v := range vols {
		ok := true
		for _, f := range filters {
			k, want, found := strings.Cut(f, "=")
			if !found {
				return nil, fmt.Errorf("--filter %q: want name=, label=, driver= or dangling=", f)
			}
			switch k {
			case "name":
				ok = ok && strings.Contains(v.Name, want)
			case "driver":
				ok = ok && v.Driver == want
			case "label":
				lk, lv, hasValue := strings.Cut(want, "=")
				got, has := v.Labels[lk]
				ok = ok && has && (!hasValue || got == lv)
			case "dangling":
				users, err := s.VolumeUsers(v.Name)
				if err != nil {
					return nil, err
				}
				ok = ok && (len(users) == 0) == (want == "true" || want == "1")
			default:
				return nil, fmt.Errorf("--filter %q: want name=, label=, driver= or dangling=", f)
			}
		}
		if ok {
			out = append(out, v)
		}
	}
	return out, nil
}

// PruneVolumes removes the volumes no container uses: the anonymous ones,
// or with all every one (docker's volume prune, -a), among those that
// match labels (label=K[=V] filters). It returns the names removed.
func (s *Store) PruneVolumes(all bool, filters []string) ([]string, error) {
	vols, err := s.Volumes()
	if err != nil {
		return nil, err
	}
	vols, err = s.SelectVolumes(vols, append(filters, "dangling=true"))
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, v := range vols {
		if !v.Anonymous && !all {
			continue
		}
		if err := s.RemoveVolume(v.Name); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, v.Name)
	}
	return removed, errors.Join(errs...)
}

// copyUpMarker is there while a volume is being filled from an image.
func (s *Store) copyUpMarker(name string) string {
	return filepath.Join(s.volumesDir(), name, "copying")
}

// BeginCopyUp marks volume name as being filled from an image, under a
// lock on the mark, and returns the func that ends it once the copy is
// whole. A tug killed meanwhile leaves the mark unlocked: the next
// container to use the volume empties it and copies again, so no
// half-copied volume is ever taken for a ready one.
func (s *Store) BeginCopyUp(name string) (func(), error) {
	lock, err := lockPath(s.copyUpMarker(name))
	if err != nil {
		return nil, err
	}
	return func() {
		os.Remove(s.copyUpMarker(name))
		lock.Unlock()
	}, nil
}

// resumeCopyUp waits for a copy into v that runs, and finds one that a
// killed tug left half done: its data is emptied and v marked New, so
// that it is copied again. The caller holds the volumes lock.
func (s *Store) resumeCopyUp(v *Volume) error {
	f, err := os.Open(s.copyUpMarker(v.Name))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if err := flockWait(f); err != nil {
		return err
	}
	if _, err := os.Stat(s.copyUpMarker(v.Name)); errors.Is(err, os.ErrNotExist) {
		return nil // the copy ended meanwhile
	}
	data := s.VolumeData(v.Name)
	entries, err := os.ReadDir(data)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(data, e.Name())); err != nil {
			return fmt.Errorf("volume %s: clear a half-done copy: %w", v.Name, err)
		}
	}
	v.New = true
	return nil
}

// ExportVolume writes the content of volume name to w as a tar; a
// volume that names a filesystem is read with it mounted.
func (s *Store) ExportVolume(name string, w io.Writer) error {
	v, err := s.readVolume(name)
	if err != nil {
		return err
	}
	return s.withVolumeMounted(v, func() error {
		fd, err := unix.Open(s.VolumeData(name), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("export volume %s: %w", name, err)
		}
		defer unix.Close(fd)
		return archive.Write(fd, ".", w, archive.WriteOptions{Prefix: "."})
	})
}

// ImportVolume unpacks the tar r into volume name, over what it holds;
// every entry is confined to the volume, as a layer's are to its dir. A
// volume that names a filesystem is written with it mounted.
func (s *Store) ImportVolume(name string, r io.Reader) error {
	v, err := s.readVolume(name)
	if err != nil {
		return err
	}
	o := s.unpack
	o.Literal = true // a volume's .wh. files are files
	return s.withVolumeMounted(v, func() error {
		if _, err := archive.Apply(s.VolumeData(name), r, o); err != nil {
			return fmt.Errorf("import into volume %s: %w", name, err)
		}
		return nil
	})
}
