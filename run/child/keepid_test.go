package child

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"tug/run/childspec"
)

// TestAddKeptUser: the keep-id user is appended to an image's passwd and
// group only where its IDs are missing, and a hostile image (its
// /etc/passwd a symlink out of the rootfs, or a directory) gets nothing
// written anywhere.
func TestAddKeptUser(t *testing.T) {
	k := &childspec.KeepID{UID: 1001, GID: 1001, Name: "dev", Home: "/home/dev"}
	for _, tc := range []struct {
		name          string
		setup         func(root, outside string)
		passwd, group string // what etc/ holds after
	}{
		{"missing IDs", func(root, _ string) {
			write(t, root, "etc/passwd", "root:x:0:0:root:/root:/bin/sh") // no final newline
			write(t, root, "etc/group", "root:x:0:\n")
		}, "root:x:0:0:root:/root:/bin/sh\ndev:*:1001:1001:dev:/home/dev:/bin/sh\n", "root:x:0:\ndev:x:1001:\n"},
		{"IDs there", func(root, _ string) {
			write(t, root, "etc/passwd", "app:x:1001:1001::/home/app:/bin/sh\n")
			write(t, root, "etc/group", "app:x:1001:\n")
		}, "app:x:1001:1001::/home/app:/bin/sh\n", "app:x:1001:\n"},
		{"no files", func(root, _ string) { os.MkdirAll(filepath.Join(root, "etc"), 0o755) }, "", ""},
		{"symlinks out", func(root, outside string) {
			os.MkdirAll(filepath.Join(root, "etc"), 0o755)
			os.Symlink(outside, filepath.Join(root, "etc/passwd"))
			os.Symlink("../../"+filepath.Base(outside), filepath.Join(root, "etc/group"))
		}, "", ""},
		{"a directory", func(root, _ string) { os.MkdirAll(filepath.Join(root, "etc/passwd"), 0o755) }, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			root, outside := filepath.Join(dir, "root"), filepath.Join(dir, "host-file")
			write(t, dir, "host-file", "host\n")
			tc.setup(root, outside)
			fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			if err := addKeptUser(fd, k); err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(outside); string(b) != "host\n" {
				t.Errorf("the file outside the rootfs became %q", b)
			}
			for rel, want := range map[string]string{"etc/passwd": tc.passwd, "etc/group": tc.group} {
				if want == "" {
					continue
				}
				if b, _ := os.ReadFile(filepath.Join(root, rel)); string(b) != want {
					t.Errorf("%s: %q, want %q", rel, b, want)
				}
			}
		})
	}
}

func write(t *testing.T, dir, rel, content string) {
	t.Helper()
	p := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
