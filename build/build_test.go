package build

import (
	"archive/tar"
	"errors"
	"strings"
	"testing"
)

func TestParseDockerfileErrors(t *testing.T) {
	for text, want := range map[string]string{
		"FROM busybox\nRUN true\n":       "",
		"FROM busybox\nFOO bar\n":        "Dockerfile:2: unknown instruction: FOO",
		"ARG x=1\n":                      "no FROM instruction",
		"RUN true\n":                     "Dockerfile:1:",
		"# just a comment\n":             "file with no instructions",
		"FROM busybox\nCOPY --bogus a b": "Dockerfile:2:",
	} {
		_, err := ParseDockerfile([]byte(text), "Dockerfile")
		switch {
		case want == "" && err != nil:
			t.Errorf("%q: %v", text, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, ErrSyntax)):
			t.Errorf("%q: %v, want %q", text, err, want)
		}
	}
}

func TestHeaderFix(t *testing.T) {
	fix, err := headerFix("42:43", "640", nil)
	if err != nil {
		t.Fatal(err)
	}
	h := &tar.Header{Typeflag: tar.TypeReg, Mode: 0o100755, Uid: 1, Gid: 1, Uname: "u"}
	fix(h)
	if h.Uid != 42 || h.Gid != 43 || h.Mode != 0o100640 || h.Uname != "" {
		t.Errorf("got %+v", h)
	}
	for _, bad := range [][2]string{{"app", ""}, {"1:grp", ""}, {"", "999999"}, {"", "rwx"}} {
		if _, err := headerFix(bad[0], bad[1], nil); err == nil {
			t.Errorf("--chown=%s --chmod=%s accepted", bad[0], bad[1])
		}
	}
}

func TestShellForm(t *testing.T) {
	if got := strings.Join(shellForm(nil, []string{"echo", "hi"}, true), "|"); got != "/bin/sh|-c|echo hi" {
		t.Errorf("shell form: %q", got)
	}
	if got := strings.Join(shellForm([]string{"bash", "-ec"}, []string{"x"}, true), "|"); got != "bash|-ec|x" {
		t.Errorf("SHELL: %q", got)
	}
	if got := strings.Join(shellForm(nil, []string{"a", "b"}, false), "|"); got != "a|b" {
		t.Errorf("exec form: %q", got)
	}
}

func TestMatchesBelow(t *testing.T) {
	for _, tc := range []struct {
		pattern, dir string
		want         bool
	}{
		{"logs/keep.log", "logs", true},
		{"logs/keep.log", "other", false},
		{"logs", "logs", false}, // the dir itself, not below it
		{"a/*/c", "a/b", true},
		{"a/*/c", "a/b/c", false},
		{"deep/**/wanted", "deep/x/y", true},
		{"**/wanted", "anything", true},
		{"x?/f", "xy", true},
		{"x?/f", "xyz", false},
	} {
		if got := matchesBelow(tc.pattern, tc.dir); got != tc.want {
			t.Errorf("matchesBelow(%q, %q) = %v, want %v", tc.pattern, tc.dir, got, tc.want)
		}
	}
}
