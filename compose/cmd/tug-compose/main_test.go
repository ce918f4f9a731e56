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
		{what: "a broken file", opt: plan.Options{Files: []string{filepath.Join(dir, "broken.yaml")}}, err: "broken.yaml:3: services.web.imag: no such field in a compose file"},
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

// TestPlan: the project in tug's terms: services after what they depend
// on, ports, volumes and networks by tug's names, secrets as read-only
// binds, limits, a healthcheck, and a warning for a field tug does not
// carry out; a cycle is an error.
func TestPlan(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "compose.yaml")
	yaml := `name: shop
services:
  web:
    image: busybox
    ports: ["127.0.0.1:8080:80", "53/udp"]
    volumes: [data:/data, ./conf:/conf:ro, {type: tmpfs, target: /scratch}, {type: volume, source: data, target: /sub, volume: {subpath: x}}]
    networks:
      front: {aliases: [www]}
    depends_on:
      db: {condition: service_healthy}
    secrets: [token]
    deploy: {resources: {limits: {memory: 64M, cpus: "0.5"}}}
    domainname: example.org
  db:
    image: busybox
    healthcheck: {test: ["CMD", "true"], interval: 2s, retries: 3}
volumes:
  data:
    driver_opts: {type: tmpfs, device: tmpfs}
networks:
  front:
secrets:
  token: {file: ./token.txt}
`
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	in, _ := json.Marshal(plan.Request{Project: plan.Options{}, Plan: true})
	var out bytes.Buffer
	if err := serve(bytes.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	var p plan.Project
	if err := json.Unmarshal(out.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Services) != 2 || p.Services[0].Name != "db" || p.Services[1].Name != "web" {
		t.Fatalf("services %+v, want db then web", p.Services)
	}
	web, db := p.Services[1], p.Services[0]
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"ports", strings.Join(web.Ports, " "), "127.0.0.1:8080:80 53/udp"},
		{"volumes", strings.Join(web.Volumes, " "), "shop_data:/data " + dir + "/conf:/conf:ro shop_data:/sub " + dir + "/token.txt:/run/secrets/token:ro"},
		{"mounts", strings.Join(web.Mounts, " "), "type=tmpfs,destination=/scratch"},
		{"networks", web.Networks[0].Key + " " + strings.Join(web.Networks[0].Aliases, ","), "front www"},
		{"db's network", db.Networks[0].Key, "default"},
		{"depends_on", web.DependsOn[0].Service + " " + web.DependsOn[0].Condition, "db service_healthy"},
		{"limits", web.Memory + " " + web.Cpus, "67108864 0.5"},
		{"healthcheck", strings.Join(db.Health.Test, " ") + " " + db.Health.Interval, "CMD true 2s"},
		{"scale", web.Scale, 1},
		{"a volume's driver_opts", p.Volumes[0].Options["type"], "tmpfs"},
		{"warning", strings.Join(p.Warnings, "\n"), "service web: domainname is not supported, and is left out\nservice web: volumes[/sub].volume.subpath is not supported, and is left out"},
	} {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", c.what, c.got, c.want)
		}
	}
	names := map[string]string{}
	for _, n := range p.Networks {
		names[n.Key] = n.Name
	}
	if names["front"] != "shop_front" || names["default"] != "shop_default" {
		t.Errorf("networks %v", names)
	}
	cycle := "services:\n  a: {image: busybox, depends_on: [b]}\n  b: {image: busybox, depends_on: [a]}\n"
	if err := os.WriteFile(file, []byte(cycle), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := serve(bytes.NewReader(in), &out); err == nil {
		t.Error("a depends_on cycle was taken")
	}
}
