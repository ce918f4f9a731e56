package run

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestParseRestart(t *testing.T) {
	for in, want := range map[string]string{
		"":                "no/0",
		"no":              "no/0",
		"always":          "always/0",
		"unless-stopped":  "unless-stopped/0",
		"on-failure":      "on-failure/0",
		"on-failure:3":    "on-failure/3",
		"on-failure:-1":   "",
		"on-failure:x":    "",
		"always:2":        "",
		"sometimes":       "",
		"unless-stopped:": "",
	} {
		p, err := ParseRestart(in)
		got := ""
		if err == nil {
			got = fmt.Sprintf("%s/%d", p.Name, p.MaxRetries)
		}
		if got != want {
			t.Errorf("%q: %q (%v), want %q", in, got, err, want)
		}
	}
}

func TestRestartAgain(t *testing.T) {
	for _, tc := range []struct {
		policy         string
		code, restarts int
		stop, want     bool
	}{
		{"no", 1, 0, false, false},
		{"always", 0, 5, false, true},
		{"always", 1, 0, true, false}, // a stop wins
		{"unless-stopped", 0, 0, false, true},
		{"on-failure", 0, 0, false, false},
		{"on-failure", 1, 100, false, true},
		{"on-failure:3", 1, 2, false, true},
		{"on-failure:3", 1, 3, false, false},
	} {
		p, err := ParseRestart(tc.policy)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.again(tc.code, tc.restarts, tc.stop); got != tc.want {
			t.Errorf("%+v: again = %v", tc, got)
		}
	}
}

func TestParseVolumeAndMount(t *testing.T) {
	for in, want := range map[string]string{
		"/h:/c":             "/h /c rw",
		"/h:/c:ro":          "/h /c ro",
		"/h:/c:rw":          "/h /c rw",
		"/h:/c:ro,Z":        "/h /c ro",
		"/h:/c:z":           "/h /c rw",
		"/h:/c:q":           "",
		"/h:/c:nocopy":      "",       // a bind has nothing to copy
		"/h":                " /h rw", // an anonymous volume
		"rel":               "",
		"name:/c":           " /c rw", // the volume "name"
		"name:/c:ro,nocopy": " /c ro",
		"./rel:/c":          "",
		"/h:rel":            "",
		"/h:/":              "",
		"/h:/c:ro:extra":    "",
	} {
		m, err := parseVolume(in)
		if got := showMount(m, err); got != want {
			t.Errorf("-v %s: %q (%v), want %q", in, got, err, want)
		}
	}
	for in, want := range map[string]string{
		"type=bind,src=/h,dst=/c":                   "/h /c rw",
		"type=bind,source=/h,target=/c,readonly":    "/h /c ro",
		"type=bind,src=/h,destination=/c,ro=true":   "/h /c ro",
		"type=bind,src=/h,dst=/c,readonly=false":    "/h /c rw",
		"type=volume,src=v,dst=/c":                  " /c rw",
		"type=volume,dst=/c,readonly,volume-nocopy": " /c ro",
		"type=volume,src=v,dst=rel":                 "",
		"type=tmpfs,dst=/t":                         "",
		"type=bind,src=/h,dst=/c,bogus=1":           "",
		"src=/h,dst=/c":                             "",
		"type=bind,src=relative,dst=/c":             "",
	} {
		m, err := parseMount(in)
		if got := showMount(m, err); got != want {
			t.Errorf("--mount %s: %q (%v), want %q", in, got, err, want)
		}
	}
}

func TestParseMountVolumeOptions(t *testing.T) {
	for in, want := range map[string]string{
		"type=volume,src=v,dst=/c,volume-opt=type=tmpfs,volume-opt=device=tmpfs":      "device=tmpfs type=tmpfs ",
		`type=volume,src=v,dst=/c,"volume-opt=o=size=1m,uid=5",volume-opt=type=tmpfs`: "o=size=1m,uid=5 type=tmpfs ",
		"type=volume,src=v,dst=/c,volume-label=a=b,volume-driver=local":               " a=b",
		"type=volume,src=v,dst=/c,volume-driver=nfs":                                  "error",
		`type=volume,src=v,dst=/c,"volume-opt=o=unterminated`:                         "error",
	} {
		m, err := parseMount(in)
		got := "error"
		if err == nil {
			got = showMap(m.VolumeOptions) + " " + showMap(m.VolumeLabels)
		}
		if got != want {
			t.Errorf("--mount %s: %q (%v), want %q", in, got, err, want)
		}
	}
}

func showMap(m map[string]string) string {
	var kvs []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		kvs = append(kvs, k+"="+m[k])
	}
	return strings.Join(kvs, " ")
}

func showMount(m Mount, err error) string {
	if err != nil {
		return ""
	}
	mode := "rw"
	if m.ReadOnly {
		mode = "ro"
	}
	return m.Source + " " + m.Destination + " " + mode
}

func TestCommandAndEnvironment(t *testing.T) {
	img := v1.Config{Entrypoint: []string{"/entry"}, Cmd: []string{"default"}, Env: []string{"PATH=/img/bin", "A=image"}}
	for _, tc := range []struct {
		opt  Options
		want string
	}{
		{Options{}, "/entry default"},
		{Options{Cmd: []string{"x", "y"}}, "/entry x y"},
		{Options{EntrypointSet: true, Entrypoint: []string{"/other"}}, "/other"},
		{Options{EntrypointSet: true, Entrypoint: []string{""}, Cmd: []string{"sh"}}, "sh"},
	} {
		got, err := command(img, tc.opt)
		if err != nil || strings.Join(got, " ") != tc.want {
			t.Errorf("%+v: %q %v, want %q", tc.opt, got, err, tc.want)
		}
	}
	if _, err := command(v1.Config{}, Options{}); err == nil {
		t.Error("no command accepted")
	}
	host := map[string]string{"FROMHOST": "h"}
	getenv := func(k string) (string, bool) { v, ok := host[k]; return v, ok }
	env, err := environment(img, Options{Tty: true, Env: []string{"A=flag", "FROMHOST", "MISSING", "B=1"}}, "box", getenv)
	want := []string{"PATH=/img/bin", "HOSTNAME=box", "TERM=xterm", "A=flag", "FROMHOST=h", "B=1"}
	if err != nil || !reflect.DeepEqual(env, want) {
		t.Errorf("environment: %q %v\nwant %q", env, err, want)
	}
	if _, err := environment(img, Options{Env: []string{"=x"}}, "box", getenv); err == nil {
		t.Error("-e =x accepted")
	}
}

func TestParseLogOptsAndLabels(t *testing.T) {
	if n, _, err := parseLogOpts([]string{"max-size=10m"}); err != nil || n != 10<<20 {
		t.Errorf("max-size=10m: %d %v", n, err)
	}
	for _, bad := range []string{"max-file=3", "max-size=big", "max-size=0", "env-regex=("} {
		if _, _, err := parseLogOpts([]string{bad}); err == nil {
			t.Errorf("--log-opt %s accepted", bad)
		}
	}
	_, opts, err := parseLogOpts([]string{"labels=app,missing", "labels-regex=^tier", "env=HOME", "env-regex=^X_"})
	if err != nil {
		t.Fatal(err)
	}
	attrs := logAttrs(opts, map[string]string{"app": "web", "tier.a": "1", "other": "no"}, []string{"HOME=/root", "X_ONE=1", "PATH=/bin"})
	if want := map[string]string{"app": "web", "tier.a": "1", "HOME": "/root", "X_ONE": "1"}; !reflect.DeepEqual(attrs, want) {
		t.Errorf("details: %v, want %v", attrs, want)
	}
	if got := detailsPrefix(map[string]string{"b": "x y", "a": "1,2"}); got != "a=1%2C2,b=x+y" {
		t.Errorf("details prefix: %q", got)
	}
	if l, err := ParseLabels([]string{"a=1", "b", "c=x=y"}); err != nil || !reflect.DeepEqual(l, map[string]string{"a": "1", "b": "", "c": "x=y"}) {
		t.Errorf("labels: %v %v", l, err)
	}
	if _, err := ParseLabels([]string{"=v"}); err == nil {
		t.Error("--label =v accepted")
	}
	for d, want := range map[string]string{"": "", "k8s-file": "", "json-file": "json-file", "none": "none", "passthrough": "passthrough", "syslog": "!"} {
		got, err := parseLogDriver(d, false)
		if err != nil {
			got = "!"
		}
		if got != want {
			t.Errorf("--log-driver %q: %q", d, got)
		}
	}
	if _, err := parseLogDriver("passthrough", true); err == nil {
		t.Error("passthrough with -t accepted")
	}
}

func TestResources(t *testing.T) {
	r, err := resources(Limits{Memory: "64m", MemorySwap: "128m", Cpus: "0.5", CPUShares: 512, PidsLimit: 20, BlkioWeight: 300})
	if err != nil || r.Memory != 64<<20 || r.MemorySwap != 128<<20 || r.CPUQuota != 50000 || r.CPUPeriod != 100000 ||
		r.CPUShares != 512 || r.PidsLimit != 20 || r.BlkioWeight != 300 {
		t.Errorf("resources: %+v %v", r, err)
	}
	if r, err := resources(Limits{Memory: "64m", MemorySwap: "-1"}); err != nil || r.MemorySwap != -1 {
		t.Errorf("--memory-swap -1: %+v %v", r, err)
	}
	for _, bad := range []Limits{
		{Memory: "1m"}, {Memory: "lots"}, {Memory: "64m", MemorySwap: "32m"}, {MemorySwap: "64m"},
		{Cpus: "0"}, {Cpus: "1000"}, {Cpus: "x"}, {CPUShares: 1}, {CPUShares: 300000}, {BlkioWeight: 5},
		{DeviceReadBps: []string{"/dev/null"}}, {DeviceReadBps: []string{"/dev/null:1m"}},
	} {
		if _, err := resources(bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestContainerPath(t *testing.T) {
	for in, want := range map[string]string{
		"web:/etc/hosts": "web /etc/hosts",
		"web:rel":        "web rel",
		"web:":           "web ",
		"/host/path":     "",
		"./a:b":          "",
		"dir/x:y":        "",
		":/x":            "",
		"-":              "",
	} {
		ref, p, ok := ContainerPath(in)
		got := ""
		if ok {
			got = ref + " " + p
		}
		if got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}

func TestTmpfsMount(t *testing.T) {
	for in, want := range map[string]string{
		"type=tmpfs,dst=/t": "/t:",
		"type=tmpfs,target=/t,tmpfs-size=64m,tmpfs-mode=1777": "/t:size=64m,mode=1777",
		"type=bind,src=/h,dst=/c":                             "not tmpfs",
		"type=tmpfs,dst=/t,bogus=1":                           "error",
	} {
		got, ok, err := tmpfsMount(in)
		switch {
		case err != nil:
			got = "error"
		case !ok:
			got = "not tmpfs"
		}
		if got != want {
			t.Errorf("%s: %q, want %q", in, got, want)
		}
	}
}
