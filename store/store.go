// Package store is tug's content-addressed local store: blobs by digest,
// unpacked layers by chain ID, and image records, all written atomically
// and guarded by per-area file locks so that many tug processes can share
// one store.
//
// Layout under the root:
//
//	blobs/sha256/<hex>          compressed blobs, manifests and configs
//	blobs/.tmp/<hex>            a blob being fetched, under its layer lock
//	layers/<chainid>/diff/      an unpacked layer, an overlayfs lower dir
//	layers/<chainid>/layer.json its record; the dir exists only when complete
//	layers/.staging/<chainid>/  a layer being unpacked, under its layer lock
//	images.json                 image records, under locks/images.lock
//	locks/                      flock files, one per area
//	tmp/                        scratch space for load and save
package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"tug/internal/userns"
	"tug/store/archive"
)

// ErrNotFound is returned when an image, layer or blob is not in the store.
var ErrNotFound = errors.New("not found")

// NoSuch is the error for an object a user named that does not exist,
// in docker's words ("No such container: web"), which scripts match. It
// is an ErrNotFound.
type NoSuch struct {
	Kind string // container, image, network, object
	Name string
}

func (e *NoSuch) Error() string { return "No such " + e.Kind + ": " + e.Name }

// Is makes a NoSuch an ErrNotFound.
func (e *NoSuch) Is(target error) bool { return target == ErrNotFound }

// ErrAmbiguous is returned when a short ID matches more than one image.
var ErrAmbiguous = errors.New("ambiguous")

// ErrInUse is returned when something still needed would be removed.
var ErrInUse = errors.New("in use")

// Store is an open store rooted at one directory.
type Store struct {
	root    string
	runRoot string
	unpack  archive.Options
	// rootless: tug runs for an unprivileged user (in its user
	// namespace, see internal/userns)
	rootless bool
	singleID bool
	records  atomic.Pointer[recordCache] // nil but in a process that asked (CacheRecords)
	scans    atomic.Int32                // ScanContainers so far
}

// Open creates the store layout under root (if missing) and returns the
// store. runRoot holds runtime state that a reboot clears.
func Open(root, runRoot string) (*Store, error) {
	if !filepath.IsAbs(root) || !filepath.IsAbs(runRoot) {
		return nil, fmt.Errorf("open store: root %q and runroot %q must be absolute paths", root, runRoot)
	}
	for _, d := range []string{
		root,
		filepath.Join(root, "blobs", "sha256"),
		filepath.Join(root, "blobs", ".tmp"),
		filepath.Join(root, "layers", ".staging"),
		filepath.Join(root, "locks"),
		filepath.Join(root, "tmp"),
		filepath.Join(root, "containers"),
	} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("open store %s: %w", root, err)
		}
	}
	if err := os.MkdirAll(runRoot, 0o700); err != nil {
		return nil, fmt.Errorf("open runroot %s: %w", runRoot, err)
	}
	// A run root in /tmp (a rootless user without XDG_RUNTIME_DIR) could
	// have been made by someone else first.
	var st unix.Stat_t
	if err := unix.Lstat(runRoot, &st); err != nil {
		return nil, fmt.Errorf("open runroot %s: %w", runRoot, err)
	}
	if int(st.Uid) != os.Geteuid() || st.Mode&unix.S_IFMT != unix.S_IFDIR || st.Mode&0o022 != 0 {
		return nil, fmt.Errorf("runroot %s: not a directory of this user's that only it can write; remove it or set --runroot", runRoot)
	}
	// Read the umask once: unpacking creates files with exact modes and
	// needs to know which bits the kernel will strip.
	mask := unix.Umask(0o022)
	unix.Umask(mask)
	ids, err := userns.Current()
	inside := err == nil && !ids.Identity()
	return &Store{
		root:     root,
		runRoot:  runRoot,
		unpack:   unpackOptions(uint32(mask), inside, inside && ids.Single),
		rootless: os.Geteuid() != 0 || inside,
		singleID: inside && ids.Single,
	}, nil
}

// unpackOptions are how layers are unpacked: as root, exactly; in a
// user namespace, with the owners it maps (only root's, with a single
// ID: the others are recorded, see archive.Options.KeepOwner), no
// device nodes, and overlayfs' user.* xattrs; as a plain user with no
// namespace (tug unshare is how to get one), as that user.
func unpackOptions(umask uint32, inside, singleID bool) archive.Options {
	o := archive.Options{Umask: umask, Chown: os.Geteuid() == 0}
	if inside {
		o.SkipDevices, o.OpaqueXattr, o.KeepOwner = true, "user.overlay.opaque", singleID
	} else if os.Geteuid() != 0 {
		o.SkipDevices = true
	}
	return o
}

// Rootless tells whether the store is an unprivileged user's.
func (s *Store) Rootless() bool { return s.rootless }

// SingleID tells whether tug runs in a user namespace that maps only the
// user's own IDs (no subordinate ranges).
func (s *Store) SingleID() bool { return s.singleID }

// Umask returns the process umask, read when the store was opened.
func (s *Store) Umask() uint32 { return s.unpack.Umask }

// Root returns the store's root directory.
func (s *Store) Root() string { return s.root }

// RunRoot returns the runtime state directory.
func (s *Store) RunRoot() string { return s.runRoot }

func (s *Store) lockFile(name string) string {
	return filepath.Join(s.root, "locks", name+".lock")
}

// TempDir makes a scratch directory inside the store, on the same
// filesystem as the blobs so that renames out of it are atomic, and
// returns it with the func that removes it. The dir is flocked while in
// use: one whose lock nobody holds belongs to a tug that was killed,
// and the next TempDir (or tug system check) removes it.
func (s *Store) TempDir() (string, func(), error) {
	// under the tmp lock, so that no sweep takes a new dir before its
	// maker has locked it
	tmpLock, err := lockPath(s.lockFile("tmp"))
	if err != nil {
		return "", nil, err
	}
	defer tmpLock.Unlock()
	s.sweepTempLocked()
	d, err := os.MkdirTemp(filepath.Join(s.root, "tmp"), "t")
	if err != nil {
		return "", nil, fmt.Errorf("make temp dir: %w", err)
	}
	lock, err := tryLockDir(d)
	if err != nil || lock == nil {
		os.RemoveAll(d)
		return "", nil, fmt.Errorf("make temp dir: lock %s: %v", d, err)
	}
	return d, func() {
		os.RemoveAll(d)
		lock.Unlock()
	}, nil
}

// sweepTemp removes the temp dirs of killed tugs and returns them.
func (s *Store) sweepTemp() ([]string, error) {
	tmpLock, err := lockPath(s.lockFile("tmp"))
	if err != nil {
		return nil, err
	}
	defer tmpLock.Unlock()
	return s.sweepTempLocked(), nil
}

func (s *Store) sweepTempLocked() []string {
	var gone []string
	left, _ := filepath.Glob(filepath.Join(s.root, "tmp", "t*"))
	for _, d := range left {
		if l, err := tryLockDir(d); err == nil && l != nil {
			if os.RemoveAll(d) == nil {
				gone = append(gone, d)
			}
			l.Unlock()
		}
	}
	return gone
}

// byNameOrID finds ref among items (containers, pods): the one whose
// name or whole ID it is, which wins over any prefix, else the one ID
// it is a prefix of. It returns nil and no error when there is none.
func byNameOrID[T comparable](items []T, ref, kind string, key func(T) (name, id string)) (T, error) {
	var found, none T
	ambiguous := false
	for _, it := range items {
		name, id := key(it)
		if name == ref || id == ref {
			return it, nil
		}
		if isHex(ref) && strings.HasPrefix(id, ref) {
			ambiguous = found != none
			found = it
		}
	}
	if ambiguous {
		return none, fmt.Errorf("%s ID prefix %s matches more than one %s: %w", kind, ref, kind, ErrAmbiguous)
	}
	return found, nil
}
