package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func env(uid int, vars map[string]string) Env {
	return Env{Getenv: func(k string) string { return vars[k] }, Geteuid: func() int { return uid },
		Owned: func(d string) bool { return d == "/run/user/1000" }}
}

func TestDefaults(t *testing.T) {
	root := Defaults(env(0, nil))
	if root.Storage.Root != "/var/lib/tug" || root.Storage.RunRoot != "/run/tug" || DefaultPath(env(0, nil)) != "/etc/tug/config.toml" {
		t.Errorf("root defaults: %+v", root.Storage)
	}
	user := env(1000, map[string]string{"HOME": "/home/u", "XDG_RUNTIME_DIR": "/run/user/1000"})
	d := Defaults(user)
	if d.Storage.Root != "/home/u/.local/share/tug" || d.Storage.RunRoot != "/run/user/1000/tug" {
		t.Errorf("user defaults: %+v", d.Storage)
	}
	other := env(1000, map[string]string{"HOME": "/home/u", "XDG_RUNTIME_DIR": "/run/user/0"})
	if d := Defaults(other).Storage.RunRoot; d != filepath.Join(os.TempDir(), "tug-1000") {
		t.Errorf("XDG_RUNTIME_DIR of another user: run root %s, want /tmp/tug-1000", d)
	}
	if DefaultPath(user) != "/home/u/.config/tug/config.toml" {
		t.Errorf("user config path %s", DefaultPath(user))
	}
	xdg := env(1000, map[string]string{"HOME": "/home/u", "XDG_DATA_HOME": "/data", "XDG_CONFIG_HOME": "/cfg"})
	d = Defaults(xdg)
	if d.Storage.Root != "/data/tug" || d.Storage.RunRoot != filepath.Join(os.TempDir(), "tug-1000") || DefaultPath(xdg) != "/cfg/tug/config.toml" {
		t.Errorf("xdg defaults: %+v %s", d.Storage, DefaultPath(xdg))
	}
}

func write(t *testing.T, body string) string {
	p := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadErrors(t *testing.T) {
	e := env(0, nil)
	if _, err := Load("/nonexistent/config.toml", false, e); err != nil {
		t.Errorf("missing default file: %v", err)
	}
	if _, err := Load("/nonexistent/config.toml", true, e); err == nil {
		t.Errorf("missing explicit file accepted")
	}
	p := write(t, "[storage]\nroot = \"/x\"\nrunroot = \n")
	_, err := Load(p, false, e)
	if err == nil || !strings.HasPrefix(err.Error(), "config "+p+": line 3: ") {
		t.Errorf("malformed: %v", err)
	}
	_, err = Load(write(t, "[storage]\nrot = \"/x\"\n"), false, e)
	if err == nil || !strings.Contains(err.Error(), "unknown key storage.rot") {
		t.Errorf("unknown key: %v", err)
	}
	_, err = Load(write(t, "[storage]\nroot = \"relative\"\n"), false, e)
	if err == nil || !strings.Contains(err.Error(), "absolute") {
		t.Errorf("relative root: %v", err)
	}
}

// TestExampleDocumentsEveryKey loads config.toml.example and checks that
// it sets every key the Config struct has.
func TestExampleDocumentsEveryKey(t *testing.T) {
	cfg, err := Load("../config.toml.example", true, env(0, nil))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile("../config.toml.example")
	var walk func(v reflect.Value, prefix string)
	walk = func(v reflect.Value, prefix string) {
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			key := f.Tag.Get("toml")
			if v.Field(i).Kind() == reflect.Struct {
				if !strings.Contains(string(b), "["+prefix+key+"]") {
					t.Errorf("section [%s%s] not in the example", prefix, key)
				}
				walk(v.Field(i), prefix+key+".")
				continue
			}
			if v.Field(i).IsZero() {
				t.Errorf("key %s%s not set in the example", prefix, key)
			}
		}
	}
	walk(reflect.ValueOf(cfg), "")
}
