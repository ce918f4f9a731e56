// Package smallfile reads the store's small records (a container's
// config and state, a network's settings, a /proc file) with the fewest
// system calls: open, read until the end, close. os.ReadFile also
// stats the file and registers it with the poller (and fails to: a
// regular file cannot be polled), which made most of the calls of a
// listing of many containers.
package smallfile

import (
	"io/fs"

	"golang.org/x/sys/unix"
)

// Read returns the contents of the file at path. Its errors are
// *fs.PathError, as os.ReadFile's: errors.Is(err, fs.ErrNotExist) holds
// for a missing file.
func Read(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	for err == unix.EINTR {
		fd, err = unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	b := make([]byte, 0, 4096)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := unix.Read(fd, b[len(b):cap(b)])
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return nil, &fs.PathError{Op: "read", Path: path, Err: err}
		case n == 0:
			return b, nil
		}
		b = b[:len(b)+n]
	}
}
