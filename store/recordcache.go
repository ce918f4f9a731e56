package store

import (
	"maps"
	"slices"
	"sync"

	"golang.org/x/sys/unix"
)

// recordCache keeps the container records that a long-lived process
// (tug system service) has read, each under the stamp of the file it
// came from. Every change of a record renames a new file in, so a stamp
// seen before means the same record: a hit costs one stat instead of a
// read and a decode, which made a third of a listing's time. Nothing is
// kept that the files do not say: the cache only skips decoding them
// again.
type recordCache struct {
	mu sync.Mutex
	m  map[string]cachedRecord
}

type cachedRecord struct {
	stamp fileStamp
	c     *Container
}

// CacheRecords makes s keep the container records it reads, for a
// process that reads them again and again.
func (s *Store) CacheRecords() {
	s.records = &recordCache{m: map[string]cachedRecord{}}
}

// stampAt is the stamp of the file at path, or false.
func stampAt(path string) (fileStamp, bool) {
	var st unix.Stat_t
	if unix.Stat(path, &st) != nil {
		return fileStamp{}, false
	}
	return stampOf(&st), true
}

// get returns a copy of the record of id read from the file at stamp.
func (rc *recordCache) get(id string, stamp fileStamp) (*Container, bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	r, ok := rc.m[id]
	if !ok || r.stamp != stamp {
		return nil, false
	}
	return r.c.clone(), true
}

// put keeps a copy of c, read from the file at stamp.
func (rc *recordCache) put(id string, stamp fileStamp, c *Container) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.m[id] = cachedRecord{stamp: stamp, c: c.clone()}
}

// keepOnly forgets the records of containers not in ids: removed ones.
func (rc *recordCache) keepOnly(ids []string) {
	live := make(map[string]bool, len(ids))
	for _, id := range ids {
		live[id] = true
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	maps.DeleteFunc(rc.m, func(id string, _ cachedRecord) bool { return !live[id] })
}

// clone is a copy of c that shares nothing a caller could change.
func (c *Container) clone() *Container {
	d := *c
	d.Labels, d.Volumes, d.Spec = maps.Clone(c.Labels), slices.Clone(c.Volumes), slices.Clone(c.Spec)
	return &d
}
