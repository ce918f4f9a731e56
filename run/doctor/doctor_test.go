package doctor

import (
	"os"
	"path/filepath"
	"testing"
)

// TestOverlayModule: overlayfs counts as there when the kernel's module
// lists name it, compressed or built in, and not otherwise.
func TestOverlayModule(t *testing.T) {
	for _, tc := range []struct {
		file, content string
		want          bool
	}{
		{"modules.dep", "kernel/fs/overlayfs/overlay.ko: \nkernel/fs/fuse/fuse.ko:\n", true},
		{"modules.dep", "kernel/fs/overlayfs/overlay.ko.xz:\n", true},
		{"modules.builtin", "kernel/fs/overlayfs/overlay.ko\n", true},
		{"modules.dep", "kernel/fs/fuse/fuse.ko:\n", false},
		{"", "", false},
	} {
		dir := t.TempDir()
		if tc.file != "" {
			if err := os.WriteFile(filepath.Join(dir, tc.file), []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if got := overlayModule(dir); got != tc.want {
			t.Errorf("%s %q: %v, want %v", tc.file, tc.content, got, tc.want)
		}
	}
}
