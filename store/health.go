package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// A container's health is a file of its own, health.json, beside its
// state: a probe a second must not cost a new file, a rename and the
// container's lock each time. It is rewritten in place under an flock on
// itself (exclusive to write, shared to read), through an fd its prober
// keeps open. A kill between the write and the truncate can leave bytes
// of a longer record after the new one; readers decode the first JSON
// value only.

// HealthFile is a container's health record, open for its prober.
type HealthFile struct {
	f   *os.File
	buf []byte
	// last is the record as this file last wrote it, and stamp the
	// file's then: while nobody else wrote it, Edit need not read it.
	last  Health
	stamp fileStamp
}

// fileStamp tells one write of a file from the next (by size and
// change time), or one file from another that took its name (by inode).
type fileStamp struct {
	ino, size    int64
	ctime, mtime unix.Timespec
}

// stampOf is st's stamp.
func stampOf(st *unix.Stat_t) fileStamp {
	return fileStamp{ino: int64(st.Ino), size: st.Size, ctime: st.Ctim, mtime: st.Mtim}
}

func (s *Store) healthPath(id string) string {
	return filepath.Join(s.ContainerDir(id), "health.json")
}

// OpenHealth opens container id's health record, making it if need be.
func (s *Store) OpenHealth(id string) (*HealthFile, error) {
	f, err := os.OpenFile(s.healthPath(id), os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("health of %s: %w", id, err)
	}
	return &HealthFile{f: f}, nil
}

// ResetHealth starts container id's health afresh as starting, with an
// empty log: the container (re)starts.
func (s *Store) ResetHealth(id string) error {
	h, err := s.OpenHealth(id)
	if err != nil {
		return err
	}
	defer h.Close()
	_, err = h.Edit(func(h *Health) { *h = Health{Status: HealthStarting, Log: []HealthResult{}} })
	return err
}

// Edit changes the health under the record's lock and returns it as
// written. A record not written yet reads as starting.
func (h *HealthFile) Edit(edit func(*Health)) (Health, error) {
	fd := int(h.f.Fd())
	if err := flock(fd, unix.LOCK_EX); err != nil {
		return Health{}, fmt.Errorf("lock %s: %w", h.f.Name(), err)
	}
	defer unix.Flock(fd, unix.LOCK_UN)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return Health{}, fmt.Errorf("health: %w", err)
	}
	cur := h.last
	if stampOf(&st) != h.stamp || h.stamp.ino == 0 {
		var err error
		if cur, err = h.read(); err != nil {
			return Health{}, err
		}
	}
	edit(&cur)
	b := bytes.NewBuffer(h.buf[:0])
	if err := json.NewEncoder(b).Encode(&cur); err != nil {
		return Health{}, err
	}
	h.buf = b.Bytes()
	if _, err := h.f.WriteAt(h.buf, 0); err != nil {
		return Health{}, fmt.Errorf("write %s: %w", h.f.Name(), err)
	}
	if err := h.f.Truncate(int64(len(h.buf))); err != nil {
		return Health{}, fmt.Errorf("write %s: %w", h.f.Name(), err)
	}
	if err := unix.Fstat(fd, &st); err != nil {
		return Health{}, fmt.Errorf("health: %w", err)
	}
	cur.Log = append([]HealthResult(nil), cur.Log...) // edit may reuse the array
	h.last, h.stamp = cur, stampOf(&st)
	return cur, nil
}

// read decodes the record; the caller holds its lock.
func (h *HealthFile) read() (Health, error) {
	h.buf = h.buf[:0]
	for {
		if len(h.buf) == cap(h.buf) {
			h.buf = append(h.buf, 0)[:len(h.buf)]
		}
		n, err := h.f.ReadAt(h.buf[len(h.buf):cap(h.buf)], int64(len(h.buf)))
		h.buf = h.buf[:len(h.buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return Health{}, fmt.Errorf("read %s: %w", h.f.Name(), err)
		}
	}
	return decodeHealth(h.buf), nil
}

// decodeHealth reads a record's first JSON value. An empty record is a
// health that has not started; so is one that does not decode (only a
// disk fault could make it: writes are whole, under the lock), which the
// next probe writes afresh, so that no command on the container fails
// for it.
func decodeHealth(b []byte) Health {
	var h Health
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(&h); err != nil {
		return Health{Status: HealthStarting, Log: []HealthResult{}}
	}
	return h
}

// Close closes the record.
func (h *HealthFile) Close() error {
	return h.f.Close()
}

// health reads container id's health, nil if it has none.
func (s *Store) health(id string) (*Health, error) {
	f, err := os.Open(s.healthPath(id))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("health of %s: %w", id, err)
	}
	defer f.Close()
	if err := flock(int(f.Fd()), unix.LOCK_SH); err != nil {
		return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("health of %s: %w", id, err)
	}
	h := decodeHealth(b)
	return &h, nil
}

// StateWatch reads a container's state again only once its file
// changed: a prober's view, a probe a second. Every SetState renames a
// new file in, so each has an inode the last one did not.
type StateWatch struct {
	s     *Store
	id    string
	stamp fileStamp
	st    *ContainerState
}

// WatchState is a StateWatch of container id.
func (s *Store) WatchState(id string) *StateWatch {
	return &StateWatch{s: s, id: id}
}

// State is the container's state, with its health as of the last time
// the state itself changed.
func (w *StateWatch) State() (*ContainerState, error) {
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(w.s.ContainerDir(w.id), "state.json"), &st); err != nil {
		return nil, fmt.Errorf("state of %s: %w", w.id, err)
	}
	if w.st != nil && stampOf(&st) == w.stamp {
		return w.st, nil
	}
	cur, err := w.s.State(w.id)
	if err != nil {
		return nil, err
	}
	w.st, w.stamp = nil, stampOf(&st)
	if settled(w.stamp, time.Now()) { // else a twin of its stamp could follow (settleTime)
		w.st = cur
	}
	return cur, nil
}
