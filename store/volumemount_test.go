package store

import "testing"

func TestValidateVolumeOptions(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		opts map[string]string
		ok   bool
	}{
		{nil, true},
		{map[string]string{"type": "tmpfs", "device": "tmpfs"}, true},
		{map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}, true},
		{map[string]string{"type": "none", "device": dir, "o": "bind"}, true},
		{map[string]string{"type": "none", "device": dir, "o": "ro,rbind"}, true},
		{map[string]string{"type": "nfs", "device": ":/export", "o": "addr=127.0.0.1"}, true},
		{map[string]string{"type": "tmpfs"}, false},
		{map[string]string{"device": "tmpfs"}, false},
		{map[string]string{"o": "size=1m"}, false},
		{map[string]string{"type": "tmpfs", "device": "tmpfs", "size": "1m"}, false},
		{map[string]string{"type": "none", "device": "relative", "o": "bind"}, false},
		{map[string]string{"type": "none", "device": dir + "/missing", "o": "bind"}, false},
	} {
		if err := validateVolumeOptions(tc.opts); (err == nil) != tc.ok {
			t.Errorf("%v: %v, want ok=%v", tc.opts, err, tc.ok)
		}
	}
}

func TestIsMountRoot(t *testing.T) {
	for path, want := range map[string]bool{"/": true, "/proc": true, t.TempDir(): false, "/nonexistent/x": false} {
		got, err := isMountRoot(path)
		if err != nil || got != want {
			t.Errorf("isMountRoot(%s) = %v, %v; want %v", path, got, err, want)
		}
	}
}
