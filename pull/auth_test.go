package pull

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

func TestAuthFlags(t *testing.T) {
	file := filepath.Join(t.TempDir(), "auth.json")
	os.WriteFile(file, []byte(`{"auths": {"reg.example:5000": {"auth": "dTpw"}, "https://index.docker.io/v1/": {"username": "hub", "password": "pw"}}}`), 0o600)
	regs, err := Registries{}.WithAuth(file, "")
	if err != nil {
		t.Fatal(err)
	}
	for ref, want := range map[string]authn.AuthConfig{
		"reg.example:5000/a/b": {Username: "u", Password: "p"},
		"busybox":              {Username: "hub", Password: "pw"},
		"other.example/x":      {},
	} {
		r, _ := name.ParseReference(ref)
		a, err := regs.keychain().Resolve(r.Context())
		if err != nil {
			t.Fatal(err)
		}
		got, _ := a.Authorization()
		if got.Username != want.Username || got.Password != want.Password {
			t.Errorf("%s: %+v, want %+v", ref, got, want)
		}
	}
	regs, err = Registries{}.WithAuth("", "me:se:cret")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := regs.keychain().Resolve(name.MustParseReference("x.example/y").Context())
	if got, _ := a.Authorization(); got.Username != "me" || got.Password != "se:cret" {
		t.Errorf("--creds: %+v", got)
	}
	for _, bad := range []string{"nopassword", ":pw"} {
		if _, err := (Registries{}).WithAuth("", bad); err == nil {
			t.Errorf("--creds %q accepted", bad)
		}
	}
}
