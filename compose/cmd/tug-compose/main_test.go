package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tug/compose/plan"
)

// TestConfig: the helper finds compose.yaml, interpolates from the
// environment and .env, takes profiles, -p and the override file, and
// refuses a broken file naming it.
func TestConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("compose.yaml", "services:\n  web:\n    image: busybox:${TAG}\n    ports: [\"${HOSTPORT:-8080}:80\"]\n  db:\n    image: busybox\n    profiles: [data]\n")
	write("compose.override.yaml", "services:\n  web:\n    environment: [FROM=override]\n")
	write(".env", "TAG=1.36\n")
	write("broken.yaml", "services:\n  web:\n    imag: busybox\n")
	t.Chdir(dir) // the helper runs in tug's directory
	for _, tc := range []struct {
		what string
		opt  plan.Options
		req  plan.ConfigRequest
		want []string // in the output
		not  []string
		err  string
	}{
		{what: "defaults", opt: plan.Options{},
			want: []string{"name: " + strings.ToLower(filepath.Base(dir)), "image: busybox:1.36", `published: "8080"`, "FROM: override"}, not: []string{"db:"}},
		{what: "the environment over .env, -p", opt: plan.Options{Name: "proj", Env: []string{"TAG=2", "HOSTPORT=9090"}},
			want: []string{"name: proj", "image: busybox:2", `published: "9090"`}},
		{what: "a profile, service names", opt: plan.Options{Profiles: []string{"data"}}, req: plan.ConfigRequest{Services: true},
			want: []string{"db\nweb\n"}},
		{what: "json", opt: plan.Options{}, req: plan.ConfigRequest{Format: "json"}, want: []string{`"image": "busybox:1.36"`}},
		{what: "a broken file", opt: plan.Options{Files: []string{filepath.Join(dir, "broken.yaml")}}, err: "broken.yaml"},
		{what: "no file", opt: plan.Options{ProjectDir: t.TempDir(), Files: []string{filepath.Join(t.TempDir(), "none.yaml")}}, err: "none.yaml"},
		{what: "a bad format", opt: plan.Options{}, req: plan.ConfigRequest{Format: "toml"}, err: `--format "toml"`},
	} {
		in, _ := json.Marshal(plan.Request{Project: tc.opt, Config: &tc.req})
		var out bytes.Buffer
		err := serve(bytes.NewReader(in), &out)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want %q", tc.what, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.what, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%s: no %q in\n%s", tc.what, w, out.String())
			}
		}
		for _, n := range tc.not {
			if strings.Contains(out.String(), n) {
				t.Errorf("%s: %q in\n%s", tc.what, n, out.String())
			}
		}
	}
}
