package archive

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// tree makes a directory of many files (more than one per directory, so
// that read-ahead runs), a symlink and a hard link.
func tree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for i := range 40 {
		d := filepath.Join(dir, fmt.Sprintf("d%d", i%4))
		if err := os.MkdirAll(d, 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("f%02d", i)), bytes.Repeat([]byte{byte(i)}, i*1000), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(dir, "d1", "f01"), filepath.Join(dir, "hard")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// tarOf is Write's tar of dir.
func tarOf(t *testing.T, dir string, opt WriteOptions) []byte {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	var buf bytes.Buffer
	if err := Write(fd, ".", &buf, opt); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestTee: one walk through Tee gives the tar Write gives and a
// directory that is the tree again, read ahead or not.
func TestTee(t *testing.T) {
	src := tree(t)
	want := tarOf(t, src, WriteOptions{})
	for _, ahead := range []bool{false, true} {
		t.Run(fmt.Sprintf("readahead=%v", ahead), func(t *testing.T) {
			out := t.TempDir()
			u, err := NewUnpacker(out, opts())
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			ts := NewTarSink(&buf)
			fd, err := unix.Open(src, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			if err := WriteTo(fd, ".", Tee(ts, u), WriteOptions{ReadAhead: ahead}); err != nil {
				t.Fatal(err)
			}
			if err := u.Close(); err != nil {
				t.Fatal(err)
			}
			if err := ts.Close(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("Tee's tar (%d bytes) is not Write's (%d bytes)", buf.Len(), len(want))
			}
			if got := tarOf(t, out, WriteOptions{}); !bytes.Equal(got, want) {
				t.Errorf("the unpacked tree differs from the source")
			}
			if u.Written() == 0 {
				t.Errorf("written bytes not counted")
			}
		})
	}
}

// TestWriteShrunk: a file shorter than its stat said fails the walk
// rather than giving a tar whose header lies.
func TestWriteShrunk(t *testing.T) {
	src := tree(t)
	fd, err := unix.Open(src, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	shrink := func(name string, st *unix.Stat_t) bool {
		if name == "d1/f05" {
			os.Truncate(filepath.Join(src, name), 10)
		}
		return false
	}
	err = WriteTo(fd, ".", NewTarSink(&bytes.Buffer{}), WriteOptions{Exclude: shrink})
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("shrank")) {
		t.Errorf("got %v, want a file that shrank", err)
	}
}
