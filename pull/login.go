package pull

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"tug/store"
)

// dockerHubAuthKey is the key docker uses for Docker Hub in config.json.
const dockerHubAuthKey = "https://index.docker.io/v1/"

// DockerConfigPath is docker's config.json: $DOCKER_CONFIG/config.json or
// ~/.docker/config.json. tug shares it, so a login serves both.
func DockerConfigPath() (string, error) {
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		return filepath.Join(d, "config.json"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find docker config: %w", err)
	}
	return filepath.Join(home, ".docker", "config.json"), nil
}

func authKey(registry string) string {
	if registry == "" || registry == "docker.io" || registry == name.DefaultRegistry {
		return dockerHubAuthKey
	}
	return registry
}

// Login checks user and password against registry and, if the registry
// accepts them, stores them in docker's config.json.
func Login(ctx context.Context, registry, user, password string, regs Registries) error {
	if registry == "" {
		registry = "docker.io"
	}
	if err := CheckLogin(ctx, registry, user, password, regs); err != nil {
		return err
	}
	return editAuths(regs.AuthFile, func(auths map[string]json.RawMessage) {
		enc := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
		auths[authKey(registry)], _ = json.Marshal(map[string]string{"auth": enc})
	})
}

// CheckLogin tells whether registry accepts user and password, and
// stores nothing (the API's /auth: the client keeps them).
func CheckLogin(ctx context.Context, registry, user, password string, regs Registries) error {
	reg, err := name.NewRegistry(registry, regs.nameOptions(registry)...)
	if err != nil {
		return fmt.Errorf("login: invalid registry %q: %w", registry, err)
	}
	auth := authn.FromConfig(authn.AuthConfig{Username: user, Password: password})
	rt, err := transport.NewWithContext(ctx, reg, auth, regs.transport(registry), []string{reg.Scope(transport.PullScope)})
	if err != nil {
		return fmt.Errorf("login %s: %w", registry, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, reg.Scheme()+"://"+reg.RegistryStr()+"/v2/", nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return fmt.Errorf("login %s: %w", registry, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("login %s: %s: wrong user name or password?", registry, resp.Status)
	}
	return nil
}

// Logout removes the stored credentials of registry from docker's
// config.json, or from authFile when it is set.
func Logout(registry, authFile string) error {
	found := false
	err := editAuths(authFile, func(auths map[string]json.RawMessage) {
		k := authKey(registry)
		_, found = auths[k]
		delete(auths, k)
	})
	if err == nil && !found {
		return fmt.Errorf("logout: not logged in to %s", authKey(registry))
	}
	return err
}

// editAuths rewrites the "auths" of docker's config.json (or of path,
// when set), keeping every other key as it was, atomically and with mode
// 0600.
func editAuths(path string, fn func(map[string]json.RawMessage)) error {
	var err error
	if path == "" {
		if path, err = DockerConfigPath(); err != nil {
			return err
		}
	}
	doc := map[string]json.RawMessage{}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("read %s: %w", path, err)
	default:
		if err := json.Unmarshal(b, &doc); err != nil {
			return fmt.Errorf("%s is not valid JSON: %w", path, err)
		}
	}
	auths := map[string]json.RawMessage{}
	if raw, ok := doc["auths"]; ok {
		if err := json.Unmarshal(raw, &auths); err != nil {
			return fmt.Errorf("%s: bad auths: %w", path, err)
		}
	}
	fn(auths)
	if doc["auths"], err = json.Marshal(auths); err != nil {
		return err
	}
	out, err := json.MarshalIndent(doc, "", "\t")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return store.WriteFileAtomic(path, append(out, '\n'), 0o600)
}
