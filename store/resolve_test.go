package store

import (
	"archive/tar"
	"errors"
	"os"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"

	"tug/store/archive"
)

// layerOf makes a layer on parent of entries: a name ending in / is a
// directory, "name -> target" a symlink, anything else an empty file.
func layerOf(t *testing.T, s *Store, parent v1.Hash, names ...string) v1.Hash {
	t.Helper()
	l, err := s.CreateLayer(parent, func(sink archive.Sink) error {
		for _, n := range names {
			hdr := &tar.Header{Name: n, Typeflag: tar.TypeReg, Mode: 0o644}
			if name, target, ok := strings.Cut(n, " -> "); ok {
				hdr.Name, hdr.Typeflag, hdr.Linkname = name, tar.TypeSymlink, target
			} else if strings.HasSuffix(n, "/") {
				hdr.Typeflag, hdr.Mode = tar.TypeDir, 0o755
			}
			if err := sink.Entry(hdr, strings.NewReader("")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	d, _ := l.DiffID()
	if parent == (v1.Hash{}) {
		return d
	}
	return ChainIDs([]v1.Hash{parent, d})[1]
}

// TestResolve: symlinks followed inside the stacked layers, whiteouts
// and opaque directories hiding what is below, loops refused.
func TestResolve(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("whiteouts and trusted.overlay.opaque are root's")
	}
	s := testStore(t)
	a := layerOf(t, s, v1.Hash{}, "usr/", "usr/lib/", "lib -> usr/lib", "opt/", "opt/sub/", "data/", "data/dir/", "up -> ../../usr", "abs -> /usr/lib")
	b := layerOf(t, s, a, "opt/.wh..wh..opq", "opt/new/", ".wh.data", "loop1 -> loop2", "loop2 -> /loop1", "file")
	layers := []v1.Hash{a, b}
	for _, tc := range []struct {
		p, want string
		dir     bool
	}{
		{"/lib/a.so", "/usr/lib/a.so", false},
		{"/lib", "/usr/lib", true},
		{"/lib/", "/usr/lib", true},
		{"/up/lib", "/usr/lib", true},
		{"/abs/x/y", "/usr/lib/x/y", false},
		{"/opt/new", "/opt/new", true},
		{"/opt/sub", "/opt/sub", false}, // under the opaque opt
		{"/data/dir", "/data/dir", false},
		{"/file/x", "/file/x", false},
		{"/", "/", true},
	} {
		got, dir, err := s.Resolve(layers, tc.p)
		if err != nil || got != tc.want || dir != tc.dir {
			t.Errorf("Resolve(%s) = %s, %v, %v; want %s, %v", tc.p, got, dir, err, tc.want, tc.dir)
		}
	}
	if _, _, err := s.Resolve(layers, "/loop1/x"); !errors.Is(err, unix.ELOOP) {
		t.Errorf("a symlink loop gave %v", err)
	}
	// below layer a alone, opt/sub is there
	if _, dir, _ := s.Resolve(layers[:1], "/opt/sub"); !dir {
		t.Errorf("/opt/sub not found in the lower layer")
	}
}
