package run

// Volumes that name a filesystem (local driver options) are mounted when
// a container first needs them and unmounted when the last one using
// them stops. The count is never kept: it is read from the records,
// each time, so no killed tug can leave it wrong. A mount that a killed
// keeper left is taken over by the next container, and detached when
// the next one to stop finds no other running user, or by volume rm.

import (
	"fmt"
	"os"
	"tug/store"
)

// filesystemVolumes are the volumes of c that name a filesystem.
func filesystemVolumes(s *store.Store, c *store.Container) []*store.Volume {
	var out []*store.Volume
	for _, name := range c.Volumes {
		if v, err := s.LookupVolume(name); err == nil && v.HasFilesystem() {
			out = append(out, v)
		}
	}
	return out
}

// volumes mounts the container's filesystem volumes that are not yet,
// under the volumes lock, which it holds until the launch ends: a
// container that stops meanwhile counts this one as running, or waits.
func (l *launcher) volumes() error {
	vols := filesystemVolumes(l.s, l.c)
	if len(vols) == 0 {
		return nil
	}
	lock, err := l.s.LockVolumes()
	if err != nil {
		return err
	}
	l.closers = append(l.closers, func() { lock.Unlock() })
	for _, v := range vols {
		if err := l.s.MountVolume(v); err != nil {
			releaseVolumes(l.s, l.c, vols)
			return err
		}
	}
	l.undo = append(l.undo, func() { releaseVolumes(l.s, l.c, vols) })
	l.p.undo = append(l.p.undo, func() { releaseLocked(l.s, l.c, vols) })
	return nil
}

// releaseLocked is releaseVolumes under the volumes lock.
func releaseLocked(s *store.Store, c *store.Container, vols []*store.Volume) {
	lock, err := s.LockVolumes()
	if err != nil {
		fmt.Fprintf(os.Stderr, "tug: release volumes of %s: %s\n", c.Name, err)
		return
	}
	defer lock.Unlock()
	releaseVolumes(s, c, vols)
}

// releaseVolumes unmounts those of vols that no running container but c
// uses. The caller holds the volumes lock.
func releaseVolumes(s *store.Store, c *store.Container, vols []*store.Volume) {
	for _, v := range vols {
		if volumeInUse(s, v.Name, c.ID) {
			continue
		}
		if err := s.UnmountVolume(v.Name); err != nil {
			fmt.Fprintf(os.Stderr, "tug: release volume %s: %s\n", v.Name, err)
		}
	}
}

// volumeInUse tells whether a container other than self that uses
// volume name runs (or waits to be restarted) by its records.
func volumeInUse(s *store.Store, name, self string) bool {
	users, err := s.VolumeUsers(name)
	if err != nil {
		return true // when in doubt, leave it mounted
	}
	for _, u := range users {
		if u.ID == self {
			continue
		}
		if st, err := State(s, u); err != nil || kept(st) {
			return true
		}
	}
	return false
}
