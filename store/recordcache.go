package store

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"tug/internal/workers"
)

// recordCache keeps the container records and states that a process
// reading them again and again (tug system service; any tug from its
// second scan of them on) has read, each under the stamp of the file it
// came from. Every change of either renames a new file in, so
// a stamp seen before means the same contents: a hit costs one stat
// instead of a read and a decode, which made most of a listing's time.
// Nothing is kept that the files do not say: the cache only skips
// decoding them again.
type recordCache struct {
	records stampCache[*Container]
	states  stampCache[ContainerState]
}

// CacheRecords makes s keep the container records and states it reads,
// for a process that reads them again and again (ScanContainers asks
// for it at a process's second scan).
func (s *Store) CacheRecords() {
	s.records.CompareAndSwap(nil, &recordCache{
		records: stampCache[*Container]{m: map[string]stamped[*Container]{}, clone: (*Container).clone},
		states:  stampCache[ContainerState]{m: map[string]stamped[ContainerState]{}, clone: func(st ContainerState) ContainerState { return st }},
	})
}

// Each calls f(i) for every i in [0, n), for a loop over containers: a
// few at once (workers.Each), as their files wait on the disk; one after
// the other in a caching store, whose reads are mostly stats of files
// it decoded before, and whose threads would only take the CPU from its
// clients (docker ps through the service: 12.4-13.5 ms against
// 14.3-14.8 on two threads, on 2 CPUs).
func (s *Store) Each(n int, f func(i int)) {
	if s.records.Load() == nil {
		workers.Each(n, f)
		return
	}
	for i := range n {
		f(i)
	}
}

// keepOnly forgets what it read of containers not in ids: removed ones.
func (rc *recordCache) keepOnly(ids []string) {
	live := make(map[string]bool, len(ids))
	for _, id := range ids {
		live[id] = true
	}
	rc.records.keepOnly(live)
	rc.states.keepOnly(live)
}

// stampCache is one kind of file, by container ID.
type stampCache[T any] struct {
	mu    sync.Mutex
	m     map[string]stamped[T]
	clone func(T) T // a copy that shares nothing a caller could change
}

type stamped[T any] struct {
	stamp fileStamp
	v     T
}

// read returns what decode makes of the file at path, container id's:
// from the cache if the file is the one decoded before, else decoded and
// kept, when the file was not replaced while it was read.
func (c *stampCache[T]) read(id, path string, decode func() (T, error)) (T, error) {
	before, ok := stampAt(path)
	if ok {
		c.mu.Lock()
		hit, found := c.m[id]
		c.mu.Unlock()
		if found && hit.stamp == before {
			return c.clone(hit.v), nil
		}
	}
	v, err := decode()
	if after, same := stampAt(path); err == nil && ok && same && after == before && settled(after, time.Now()) {
		c.mu.Lock()
		c.m[id] = stamped[T]{stamp: after, v: c.clone(v)}
		c.mu.Unlock()
	}
	return v, err
}

func (c *stampCache[T]) keepOnly(live map[string]bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	maps.DeleteFunc(c.m, func(id string, _ stamped[T]) bool { return !live[id] })
}

// settleTime is how long a file must have been as it is before the
// cache keeps what it says. A file's times come from the kernel's coarse
// clock, one tick (1-10 ms) a step, and ext4 soon gives a freed inode
// out again: a file renamed in within the same tick as the one it
// replaced, with its size and its recycled inode, would carry the same
// stamp. One changed before settleTime ago cannot be followed by such a
// twin any more: a file written now has a later time.
const settleTime = 50 * time.Millisecond

// settled tells whether the file of stamp st changed before settleTime
// ago.
func settled(st fileStamp, now time.Time) bool {
	changed := time.Unix(st.ctime.Unix())
	return now.Sub(changed) > settleTime
}

// stampAt is the stamp of the file at path, or false.
func stampAt(path string) (fileStamp, bool) {
	var st unix.Stat_t
	if unix.Stat(path, &st) != nil {
		return fileStamp{}, false
	}
	return stampOf(&st), true
}

// clone is a copy of c that shares nothing a caller could change, but
// the views of its spec decoded already.
func (c *Container) clone() *Container {
	d := *c
	d.Labels, d.Volumes, d.Spec = maps.Clone(c.Labels), slices.Clone(c.Volumes), slices.Clone(c.Spec)
	return &d
}

// specViews are a record's spec decoded into one type or another.
type specViews struct {
	mu sync.Mutex
	m  map[reflect.Type]any
}

// DecodeSpec decodes c's Spec into a T: once for each record that a
// caching store read (CacheRecords), where many readers decode the
// same; each time for others. The T it returns is shared: read it,
// never change it. c.Spec must not change after.
func DecodeSpec[T any](c *Container) (*T, error) {
	if c.specs == nil {
		return decodeSpec[T](c)
	}
	key := reflect.TypeFor[T]()
	c.specs.mu.Lock()
	defer c.specs.mu.Unlock()
	if v, ok := c.specs.m[key]; ok {
		return v.(*T), nil
	}
	v, err := decodeSpec[T](c)
	if err == nil {
		c.specs.m[key] = v
	}
	return v, err
}

func decodeSpec[T any](c *Container) (*T, error) {
	v := new(T)
	if err := json.Unmarshal(c.Spec, v); err != nil {
		return nil, fmt.Errorf("container %.12s: corrupt config: %w", c.ID, err)
	}
	return v, nil
}
