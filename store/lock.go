package store

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Lock is an flock(2) lock on a file. The kernel drops it when the holder
// dies, so a tug process killed with SIGKILL never leaves a stale lock.
type Lock struct {
	f *os.File
}

// LockFile takes an exclusive lock on path (created if missing), waiting
// for other holders; for state kept outside a store, such as a bridge's
// leases.
func LockFile(path string) (*Lock, error) {
	return lockPath(path)
}

// lockPath takes an exclusive lock on path, waiting for other holders.
func lockPath(path string) (*Lock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := flockWait(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return &Lock{f: f}, nil
}

// tryLockPath takes an exclusive lock on path if nobody holds it. It
// returns nil, nil when the lock is held elsewhere.
func tryLockPath(path string) (*Lock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return tryLock(f, path)
}

// tryLockDir is tryLockPath for a directory, which is its own lock.
func tryLockDir(path string) (*Lock, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return tryLock(f, path)
}

func tryLock(f *os.File, path string) (*Lock, error) {
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if err == unix.EWOULDBLOCK {
			return nil, nil
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return &Lock{f: f}, nil
}

// Unlock releases the lock.
func (l *Lock) Unlock() {
	l.f.Close()
}

// flockWait takes an exclusive lock on f, waiting for other holders.
func flockWait(f *os.File) error {
	return flock(int(f.Fd()), unix.LOCK_EX)
}

// flock takes a lock (how: LOCK_EX or LOCK_SH) on fd, waiting for
// other holders.
func flock(fd, how int) error {
	for {
		err := unix.Flock(fd, how)
		if err != unix.EINTR {
			return err
		}
	}
}
