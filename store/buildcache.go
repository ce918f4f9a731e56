package store

// tug build's cache: a record per step, buildcache/<key>, holding the ID
// of the image the step made, which the store keeps as build cache (an
// Image with Cache set). A key is a digest of the step and all that led
// to it, so a record is never changed once written, only removed.

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

var buildKey = regexp.MustCompile(`^[0-9a-f]{64}$`)

func (s *Store) buildCacheDir() string { return filepath.Join(s.root, "buildcache") }

// LockBuildStep takes the lock of the step key, so that two builds of
// the same step run it once: the second finds the first's record.
func (s *Store) LockBuildStep(key string) (*Lock, error) {
	if !buildKey.MatchString(key) {
		return nil, fmt.Errorf("build cache key %q: want 64 hex digits", key)
	}
	return lockPath(s.lockFile("build-" + key))
}

// LookupBuildStep returns the image a cached step made, if its record
// and its image are both there.
func (s *Store) LookupBuildStep(key string) (*Image, bool) {
	if !buildKey.MatchString(key) {
		return nil, false
	}
	b, err := os.ReadFile(filepath.Join(s.buildCacheDir(), key))
	if err != nil {
		return nil, false
	}
	img, err := s.LookupImage(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, false
	}
	return img, true
}

// RecordBuildStep records that step key made image id, durably and whole
// (temp then rename: a killed build leaves no half record).
func (s *Store) RecordBuildStep(key string, id v1.Hash) error {
	if !buildKey.MatchString(key) {
		return fmt.Errorf("build cache key %q: want 64 hex digits", key)
	}
	if err := os.MkdirAll(s.buildCacheDir(), 0o700); err != nil {
		return fmt.Errorf("build cache: %w", err)
	}
	return replaceFile(filepath.Join(s.buildCacheDir(), key), []byte(id.Hex+"\n"), 0o600, true)
}

// PruneBuildCache removes the build cache: every step's record, and the
// images kept as cache that no name or container holds. It returns the
// images removed.
func (s *Store) PruneBuildCache() ([]*Image, error) {
	gone, err := s.removeUnused((*Image).Hidden)
	if err != nil {
		return gone, err
	}
	if err := os.RemoveAll(s.buildCacheDir()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return gone, fmt.Errorf("build cache: %w", err)
	}
	return gone, nil
}

// BuildCacheMount is the directory of RUN --mount=type=cache's id.
func (s *Store) BuildCacheMount(id string) string {
	return filepath.Join(s.buildCacheDir(), "mounts", digestHex(id))
}

// MakeBuildCacheMount makes the cache mount dir, with its mode and
// owner, whole or not at all (made aside, then renamed into place; a
// build that made it first meanwhile wins).
func (s *Store) MakeBuildCacheMount(dir string, mode os.FileMode, uid, gid int) error {
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return fmt.Errorf("cache mount: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, ".new-")
	if err != nil {
		return fmt.Errorf("cache mount: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := os.Chown(tmp, uid, gid); err != nil {
		return fmt.Errorf("cache mount: %w", err)
	}
	if err := os.Chmod(tmp, mode); err != nil {
		return fmt.Errorf("cache mount: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil && !errors.Is(err, os.ErrExist) && !errors.Is(err, syscall.ENOTEMPTY) {
		return fmt.Errorf("cache mount: %w", err)
	}
	return nil
}

// digestHex is the hex SHA-256 of s.
func digestHex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// BuildFileHashes reads tug build's record of the file hashes of the
// context at dir (an absolute path); a missing record is empty.
func (s *Store) BuildFileHashes(dir string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(s.buildCacheDir(), "files", digestHex(dir)))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// WriteBuildFileHashes replaces that record, whole (temp then rename).
func (s *Store) WriteBuildFileHashes(dir string, data []byte) error {
	files := filepath.Join(s.buildCacheDir(), "files")
	if err := os.MkdirAll(files, 0o700); err != nil {
		return fmt.Errorf("build cache: %w", err)
	}
	return replaceFile(filepath.Join(files, digestHex(dir)), data, 0o600, false)
}
