package store

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"tug/internal/smallfile"
)

// Compiled seccomp filters are kept apart from the container records
// that use them, once each under the sha256 of their bytes: every
// container of docker's default profile shares one file, and its record
// stays small, so a listing of many containers decodes a third as much.
// They are never removed but with the store: a few KB per profile.

func (s *Store) seccompPath(ref string) string { return filepath.Join(s.root, "seccomp", ref) }

// PutSeccomp keeps a compiled filter and returns its reference, the hex
// of its sha256. A filter already kept is not written again.
func (s *Store) PutSeccomp(prog []byte) (string, error) {
	sum := sha256.Sum256(prog)
	ref := hex.EncodeToString(sum[:])
	p := s.seccompPath(ref)
	if _, err := os.Lstat(p); err == nil {
		return ref, nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return "", fmt.Errorf("keep seccomp filter: %w", err)
	}
	// fsynced: a container record names it from now on
	return ref, replaceFile(p, prog, 0o600, true)
}

// Seccomp returns the filter PutSeccomp kept as ref, checked against its
// digest: a damaged filter is an error, never a weaker one.
func (s *Store) Seccomp(ref string) ([]byte, error) {
	b, err := smallfile.Read(s.seccompPath(ref))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("seccomp filter %.12s is missing from the store: remove the container and create it again", ref)
	}
	if err != nil {
		return nil, err
	}
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != ref {
		return nil, fmt.Errorf("seccomp filter %.12s is damaged: its contents do not match its digest", ref)
	}
	return b, nil
}
