package build

// The record of the context's file hashes: a file whose size, mtime,
// ctime and inode are those recorded has the recorded hash, so a
// rebuild of an unchanged context reads none of its files to find its
// steps in the cache. One record a context directory, in the store.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// fileHash is what the record knows of one file.
type fileHash struct {
	Size  int64  `json:"size"`
	Mtime int64  `json:"mtime"` // ns
	Ctime int64  `json:"ctime"` // ns
	Ino   uint64 `json:"ino"`
	Sum   string `json:"sum"`
}

// fileHashes is the record of one build's context.
type fileHashes struct {
	mu    sync.Mutex
	dir   string
	files map[string]fileHash // by path in the context
	seen  map[string]bool
	dirty bool
}

// hashes loads the context's record, once.
func (b *builder) hashes() *fileHashes {
	b.hashesOnce.Do(func() {
		dir, err := filepath.Abs(b.opt.Context)
		if err != nil {
			dir = b.opt.Context
		}
		h := &fileHashes{dir: dir, files: map[string]fileHash{}, seen: map[string]bool{}}
		if data, err := b.s.BuildFileHashes(dir); err == nil && data != nil {
			json.Unmarshal(data, &h.files) // a damaged record is an empty one
		}
		b.fileHashes = h
	})
	return b.fileHashes
}

// empty tells whether the record knows no file: the context's first
// build, which reads every file it hashes.
func (h *fileHashes) empty() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.files) == 0
}

// content is the hash of the context file rel, from the record when the
// file is as recorded, else read (open opens it).
func (h *fileHashes) content(rel string, st *unix.Stat_t, open func() (*os.File, error)) (string, error) {
	now := fileHash{Size: st.Size, Mtime: st.Mtim.Nano(), Ctime: st.Ctim.Nano(), Ino: st.Ino}
	h.mu.Lock()
	h.seen[rel] = true
	if old, ok := h.files[rel]; ok && old.Size == now.Size && old.Mtime == now.Mtime && old.Ctime == now.Ctime && old.Ino == now.Ino {
		h.mu.Unlock()
		return old.Sum, nil
	}
	h.mu.Unlock()
	f, err := open()
	if err != nil {
		return "", err
	}
	defer f.Close()
	sum := sha256.New()
	if _, err := io.Copy(sum, f); err != nil {
		return "", fmt.Errorf("read %s: %w", rel, err)
	}
	now.Sum = hex.EncodeToString(sum.Sum(nil))
	h.mu.Lock()
	h.files[rel], h.dirty = now, true
	h.mu.Unlock()
	return now.Sum, nil
}

// save writes the record back, with the files this build saw, if it
// learned anything.
func (b *builder) saveHashes() {
	h := b.fileHashes
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.dirty && len(h.seen) == len(h.files) {
		return
	}
	for rel := range h.files {
		if !h.seen[rel] {
			delete(h.files, rel)
		}
	}
	if data, err := json.Marshal(h.files); err == nil {
		b.s.WriteBuildFileHashes(h.dir, data)
	}
}
