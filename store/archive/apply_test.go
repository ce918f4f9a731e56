package archive

import (
	"archive/tar"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

type ent struct {
	name, body, link string
	typ              byte
	mode             int64
	uid, gid         int
	xattrs           map[string]string
}

func mktar(t *testing.T, ents ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: e.mode, Uid: e.uid, Gid: e.gid,
			ModTime: time.Unix(1700000000, 0), Format: tar.FormatPAX}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if h.Typeflag == tar.TypeDir {
				h.Mode = 0o755
			}
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if h.Typeflag == tar.TypeChar {
			h.Devmajor, h.Devminor = 1, 3
		}
		for k, v := range e.xattrs {
			if h.PAXRecords == nil {
				h.PAXRecords = map[string]string{}
			}
			h.PAXRecords["SCHILY.xattr."+k] = v
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(e.body))
	}
	tw.Close()
	return buf.Bytes()
}

// sandbox is a layer dir next to an "outside" dir with a canary file;
// check fails the test if anything outside changed.
type sandbox struct {
	root, outside string
}

func newSandbox(t *testing.T) sandbox {
	dir := t.TempDir()
	s := sandbox{root: filepath.Join(dir, "layer"), outside: filepath.Join(dir, "outside")}
	for _, d := range []string{s.root, s.outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(s.outside, "canary"), []byte("canary\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s sandbox) check(t *testing.T) {
	t.Helper()
	entries, _ := os.ReadDir(s.outside)
	if len(entries) != 1 {
		t.Errorf("outside dir now holds %d entries", len(entries))
	}
	b, err := os.ReadFile(filepath.Join(s.outside, "canary"))
	if err != nil || string(b) != "canary\n" {
		t.Errorf("canary changed: %q, %v", b, err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(s.outside, "canary"), &st); err == nil && (st.Nlink != 1 || st.Mode&0o7777 != 0o644) {
		t.Errorf("canary nlink %d mode %o", st.Nlink, st.Mode&0o7777)
	}
	if _, err := os.Lstat(filepath.Join(filepath.Dir(s.root), "escaped")); err == nil {
		t.Errorf("a file escaped next to the layer")
	}
}

func opts() Options {
	o := Options{Umask: 0o022, Chown: os.Geteuid() == 0, SkipDevices: os.Geteuid() != 0}
	if os.Geteuid() != 0 {
		o.OpaqueXattr = "user.overlay.opaque" // trusted.* is root's, as for a rootless store
	}
	return o
}

// TestHostile ports the breakout archives of DESIGN.md §4: each must end
// in an error or in a result contained in the layer dir.
func TestHostile(t *testing.T) {
	abs := func(s sandbox) string { return s.outside }
	cases := []struct {
		name    string
		ents    func(s sandbox) []ent
		wantErr bool   // must fail
		anyEnd  bool   // may fail or succeed; only containment matters
		inside  string // a path that must exist inside the layer afterwards
	}{
		{name: "dotdot name", wantErr: true, ents: func(sandbox) []ent { return []ent{{name: "../escaped", body: "x"}} }},
		{name: "dotdot deep", wantErr: true, ents: func(sandbox) []ent { return []ent{{name: "a/../../escaped", body: "x"}} }},
		{name: "absolute name", inside: "abs/file", ents: func(sandbox) []ent { return []ent{{name: "/abs/file", body: "x"}} }},
		{name: "symlink to outside dir as parent", anyEnd: true, ents: func(s sandbox) []ent {
			return []ent{{name: "evil", typ: tar.TypeSymlink, link: abs(s)}, {name: "evil/canary", body: "pwned"}}
		}},
		{name: "relative symlink climbing out", anyEnd: true, ents: func(s sandbox) []ent {
			return []ent{{name: "evil", typ: tar.TypeSymlink, link: "../../../../../../../../" + abs(s)}, {name: "evil/canary", body: "pwned"}}
		}},
		{name: "symlink then overwrite through it", ents: func(s sandbox) []ent {
			return []ent{{name: "c", typ: tar.TypeSymlink, link: filepath.Join(abs(s), "canary")}, {name: "c", body: "pwned"}}
		}},
		{name: "hardlink to outside by dotdot", wantErr: true, ents: func(sandbox) []ent {
			return []ent{{name: "h", typ: tar.TypeLink, link: "../outside/canary"}}
		}},
		{name: "hardlink to outside by absolute path", wantErr: true, ents: func(s sandbox) []ent {
			return []ent{{name: "h", typ: tar.TypeLink, link: filepath.Join(abs(s), "canary")}}
		}},
		{name: "hardlink through a symlinked dir", wantErr: true, ents: func(s sandbox) []ent {
			return []ent{{name: "d", typ: tar.TypeSymlink, link: abs(s)}, {name: "h", typ: tar.TypeLink, link: "d/canary"}}
		}},
		{name: "hardlink to a symlink pointing outside", inside: "h", ents: func(s sandbox) []ent {
			return []ent{{name: "s", typ: tar.TypeSymlink, link: filepath.Join(abs(s), "canary")}, {name: "h", typ: tar.TypeLink, link: "s"}, {name: "h", body: "pwned"}}
		}},
		{name: "whiteout through a symlinked dir", anyEnd: true, ents: func(s sandbox) []ent {
			return []ent{{name: "d", typ: tar.TypeSymlink, link: abs(s)}, {name: "d/.wh.canary"}}
		}},
		{name: "whiteout with dotdot", wantErr: true, ents: func(sandbox) []ent { return []ent{{name: "../outside/.wh.canary"}} }},
		{name: "opaque marker through a symlink", anyEnd: true, ents: func(s sandbox) []ent {
			return []ent{{name: "d", typ: tar.TypeSymlink, link: abs(s)}, {name: "d/.wh..wh..opq"}}
		}},
		// the kernel's IDs are 32 bits: 4294967296 would chown to root and
		// 4294968296 to 1000, setuid bit and all
		{name: "uid past 32 bits", wantErr: true, ents: func(sandbox) []ent {
			return []ent{{name: "suid", body: "#!", mode: 0o4755, uid: 1 << 32}}
		}},
		{name: "gid past 32 bits", wantErr: true, ents: func(sandbox) []ent {
			return []ent{{name: "sgid", body: "#!", mode: 0o2755, uid: 1000, gid: 1<<32 + 1000}}
		}},
		{name: "dir owner past 32 bits", wantErr: true, ents: func(sandbox) []ent {
			return []ent{{name: "d/", typ: tar.TypeDir, mode: 0o755, uid: 1<<32 - 1}}
		}},
		{name: "dir replaced by symlink then written", anyEnd: true, ents: func(s sandbox) []ent {
			return []ent{{name: "d/", typ: tar.TypeDir}, {name: "d/f", body: "x"}, {name: "d", typ: tar.TypeSymlink, link: abs(s)}, {name: "d/canary", body: "pwned"}}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newSandbox(t)
			_, err := Apply(s.root, bytes.NewReader(mktar(t, c.ents(s)...)), opts())
			if c.wantErr && err == nil {
				t.Errorf("want an error")
			}
			if !c.wantErr && !c.anyEnd && err != nil {
				t.Errorf("want contained extraction, got %v", err)
			}
			if c.wantErr && err != nil && strings.Contains(c.name, "dotdot") && !errors.Is(err, ErrUnsafe) {
				t.Errorf("want ErrUnsafe, got %v", err)
			}
			if c.inside != "" {
				if _, err := os.Lstat(filepath.Join(s.root, c.inside)); err != nil {
					t.Errorf("%s not inside the layer: %v", c.inside, err)
				}
			}
			s.check(t)
		})
	}
}

func TestBrokenArchives(t *testing.T) {
	good := mktar(t, ent{name: "a", body: strings.Repeat("x", 5000)})
	for name, data := range map[string][]byte{
		"truncated": good[:700],
		"garbage":   bytes.Repeat([]byte{0xde, 0xad}, 600),
	} {
		t.Run(name, func(t *testing.T) {
			s := newSandbox(t)
			if _, err := Apply(s.root, bytes.NewReader(data), opts()); err == nil {
				t.Errorf("want an error")
			}
			s.check(t)
		})
	}
}

func TestLayerFeatures(t *testing.T) {
	s := newSandbox(t)
	data := mktar(t,
		ent{name: "etc/", typ: tar.TypeDir, mode: 0o755},
		ent{name: "etc/.wh.gone"},
		ent{name: "opq/.wh..wh..opq"},
		ent{name: "bin/suid", body: "#!", mode: 0o4755},
		ent{name: "tmp/", typ: tar.TypeDir, mode: 0o1777},
		ent{name: "group-writable", body: "w", mode: 0o664},
		ent{name: "owned", body: "o", uid: 1234, gid: 5678, mode: 0o640},
		ent{name: "target", body: "shared"},
		ent{name: "hard", typ: tar.TypeLink, link: "target"},
		ent{name: "soft", typ: tar.TypeSymlink, link: "/target"},
		ent{name: "attr", body: "a", xattrs: map[string]string{"user.tug": "yes", "trusted.overlay.redirect": "/x", "user.overlay.opaque": "y"}},
		ent{name: "null", typ: tar.TypeChar, mode: 0o666},
		ent{name: "fifo", typ: tar.TypeFifo, mode: 0o600},
		ent{name: "replaced", body: "first"},
		ent{name: "replaced", body: "second"},
		ent{name: "was-file", body: "f"},
		ent{name: "was-file/", typ: tar.TypeDir},
		ent{name: "real/", typ: tar.TypeDir},
		ent{name: "abslink", typ: tar.TypeSymlink, link: "/real"},
		ent{name: "abslink/through", body: "t"},
	)
	n, err := Apply(s.root, bytes.NewReader(data), opts())
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Errorf("written bytes not counted")
	}
	p := func(rel string) string { return filepath.Join(s.root, rel) }
	stat := func(rel string) unix.Stat_t {
		var st unix.Stat_t
		if err := unix.Lstat(p(rel), &st); err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		return st
	}
	if st := stat("etc/gone"); st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Errorf("whiteout is not a 0/0 char device: mode %o rdev %d", st.Mode, st.Rdev)
	}
	if os.Geteuid() == 0 {
		buf := make([]byte, 8)
		if n, err := unix.Lgetxattr(p("opq"), "trusted.overlay.opaque", buf); err != nil || string(buf[:n]) != "y" {
			t.Errorf("opaque xattr: %q, %v", buf[:n], err)
		}
		if st := stat("owned"); st.Uid != 1234 || st.Gid != 5678 {
			t.Errorf("owner %d:%d", st.Uid, st.Gid)
		}
		if st := stat("null"); st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 3) {
			t.Errorf("char device: mode %o rdev %d", st.Mode, st.Rdev)
		}
	}
	for rel, mode := range map[string]uint32{"bin/suid": 0o4755, "tmp": 0o1777, "group-writable": 0o664, "owned": 0o640, "fifo": 0o600} {
		if st := stat(rel); st.Mode&0o7777 != mode {
			t.Errorf("%s: mode %o, want %o", rel, st.Mode&0o7777, mode)
		}
	}
	if a, b := stat("hard"), stat("target"); a.Ino != b.Ino {
		t.Errorf("hard link not linked")
	}
	if l, _ := os.Readlink(p("soft")); l != "/target" {
		t.Errorf("symlink target %q", l)
	}
	buf := make([]byte, 8)
	if n, err := unix.Lgetxattr(p("attr"), "user.tug", buf); err != nil || string(buf[:n]) != "yes" {
		t.Errorf("user xattr: %q, %v", buf[:n], err)
	}
	for _, x := range []string{"trusted.overlay.redirect", "user.overlay.opaque"} {
		if _, err := unix.Lgetxattr(p("attr"), x, buf); err == nil {
			t.Errorf("overlay xattr %s smuggled in", x)
		}
	}
	if b, _ := os.ReadFile(p("replaced")); string(b) != "second" {
		t.Errorf("later entry did not win: %q", b)
	}
	if st := stat("was-file"); st.Mode&unix.S_IFMT != unix.S_IFDIR {
		t.Errorf("dir entry did not replace the file")
	}
	if b, _ := os.ReadFile(p("real/through")); string(b) != "t" {
		t.Errorf("absolute symlink not resolved inside the layer: %q", b)
	}
	if st := stat("etc"); st.Mtim.Sec != 1700000000 {
		t.Errorf("dir mtime %d, want the archive's", st.Mtim.Sec)
	}
	if st := stat("bin/suid"); st.Mtim.Sec != 1700000000 {
		t.Errorf("file mtime %d", st.Mtim.Sec)
	}
}

func TestSkipDevices(t *testing.T) {
	s := newSandbox(t)
	o := opts()
	o.SkipDevices = true
	if _, err := Apply(s.root, bytes.NewReader(mktar(t, ent{name: "null", typ: tar.TypeChar})), o); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(s.root, "null")); !os.IsNotExist(err) {
		t.Errorf("device created despite SkipDevices")
	}
}
