package run

// --userns keep-id, for rootless containers: the container gets a user
// namespace of its own, nested in tug's, that permutes tug's IDs so that
// the user's host UID and GID are the same inside (files the user owns,
// a bind-mounted source tree say, are the user's in the container too)
// and the container runs as that user. The rootfs is shown through
// fuse-overlayfs with the same permutation, so that the image's files
// keep their owners; tug itself reads and writes the store with its own
// IDs, as for every other container.

import (
	"archive/tar"
	"errors"
	"fmt"
	"os/user"
	"strconv"
	"strings"
	"syscall"

	"tug/internal/userns"
	"tug/run/childspec"
	"tug/store"
)

// keepID resolves --userns: "" and host keep the container in tug's
// namespace (nil), keep-id gives what the nested one keeps.
func keepID(s *store.Store, mode string) (*childspec.KeepID, error) {
	switch mode {
	case "", "host":
		return nil, nil
	case "keep-id":
	default:
		return nil, fmt.Errorf("--userns %s: want host or keep-id", mode)
	}
	if !s.Rootless() {
		return nil, errors.New("--userns keep-id: only a rootless container has IDs to keep; root's containers see the host's already")
	}
	if s.SingleID() {
		return nil, errors.New("--userns keep-id: needs subordinate IDs for your user in /etc/subuid and /etc/subgid (see tug doctor)")
	}
	m, err := userns.Current()
	if err != nil {
		return nil, fmt.Errorf("--userns keep-id: %w", err)
	}
	k := &childspec.KeepID{UID: uint32(userns.HostUID()), GID: uint32(userns.HostGID()),
		UIDCount: idCount(m.UIDs), GIDCount: idCount(m.GIDs), Name: "user", Home: "/"}
	if k.UID >= k.UIDCount || k.GID >= k.GIDCount {
		return nil, fmt.Errorf("--userns keep-id: your IDs %d:%d are beyond the %d:%d IDs tug's user namespace maps", k.UID, k.GID, k.UIDCount, k.GIDCount)
	}
	if u, err := user.LookupId(strconv.Itoa(int(k.UID))); err == nil {
		k.Name, k.Home = u.Username, u.HomeDir
	}
	return k, nil
}

// keepIDDriver checks that a keep-id container can have its rootfs
// shown through fuse-overlayfs with the nested namespace's map, and the
// flags it cannot go with.
func keepIDDriver(opt Options) error {
	if opt.ForceDriver != "" {
		return fmt.Errorf("--userns keep-id shows the image through fuse-overlayfs: --storage-driver %s cannot go with it", opt.ForceDriver)
	}
	for _, f := range [][2]string{{"network", opt.Network}, {"ipc", opt.IPC}} {
		if strings.HasPrefix(f[1], "container:") {
			return fmt.Errorf("--userns keep-id: a container in a user namespace of its own cannot join another's %s namespace", f[0])
		}
	}
	if err := FuseUsable(); err != nil {
		return fmt.Errorf("--userns keep-id needs fuse-overlayfs: %w", err)
	}
	return nil
}

// idCount is how many IDs, 0 up, a map of tug's namespace covers.
func idCount(rs []userns.Range) uint32 {
	var n uint32
	for _, r := range rs {
		if r.Inside == n {
			n += r.Count
		}
	}
	return n
}

// keepIDMap is the nested namespace's map of id among count IDs of
// tug's: inside 0…id-1 are tug's 1…id, id is tug's 0 (the user), and
// the rest map to themselves.
func keepIDMap(id, count uint32) []syscall.SysProcIDMap {
	m := []syscall.SysProcIDMap{{ContainerID: int(id), HostID: 0, Size: 1}}
	if id > 0 {
		m = append(m, syscall.SysProcIDMap{ContainerID: 0, HostID: 1, Size: int(id)})
	}
	if rest := count - id - 1; rest > 0 {
		m = append(m, syscall.SysProcIDMap{ContainerID: int(id) + 1, HostID: int(id) + 1, Size: int(rest)})
	}
	return m
}

// fuseIDMapping is m as fuse-overlayfs's uidmapping= and gidmapping=
// take it: a file stored with ID c is shown with ID h, which the nested
// namespace sees as c again.
func fuseIDMapping(m []syscall.SysProcIDMap) string {
	parts := make([]string, 0, 3*len(m))
	for _, r := range m {
		parts = append(parts, strconv.Itoa(r.ContainerID), strconv.Itoa(r.HostID), strconv.Itoa(r.Size))
	}
	return strings.Join(parts, ":")
}

// idView translates between the IDs tug sees in a running keep-id
// container's rootfs (its own, through the nested namespace's map) and
// the container's. A nil view is the identity: every other container,
// and a keep-id one that is not running (tug mounts it unmapped).
type idView struct {
	uids, gids []syscall.SysProcIDMap
}

// viewOf is the view of a running container with spec; nil unless keep-id.
func viewOf(spec *Spec) *idView {
	k := spec.KeepID
	if k == nil {
		return nil
	}
	return &idView{uids: keepIDMap(k.UID, k.UIDCount), gids: keepIDMap(k.GID, k.GIDCount)}
}

// header turns a tar header's owners, as tug read them, into the
// container's; for archive.WriteOptions.Header, nil for a nil view.
func (v *idView) header() func(*tar.Header) {
	if v == nil {
		return nil
	}
	return func(h *tar.Header) {
		h.Uid, h.Gid = insideID(v.uids, h.Uid), insideID(v.gids, h.Gid)
	}
}

// root is the container's root as tug's IDs, for archive.Options.Owner;
// nil for a nil view, whose root is tug's own.
func (v *idView) root() *[2]int {
	if v == nil {
		return nil
	}
	return &[2]int{outsideID(v.uids, 0), outsideID(v.gids, 0)}
}

// insideID is the ID that tug's id is inside m; unmapped IDs stay.
func insideID(m []syscall.SysProcIDMap, id int) int {
	for _, r := range m {
		if id >= r.HostID && id < r.HostID+r.Size {
			return r.ContainerID + id - r.HostID
		}
	}
	return id
}

// outsideID is tug's ID for id inside m; unmapped IDs stay.
func outsideID(m []syscall.SysProcIDMap, id int) int {
	for _, r := range m {
		if id >= r.ContainerID && id < r.ContainerID+r.Size {
			return r.HostID + id - r.ContainerID
		}
	}
	return id
}
