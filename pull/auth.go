package pull

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// authFileKeychain finds credentials in an auth file of docker's
// config.json form (podman's auth.json has the same "auths"), named by
// --authfile: "auths" keyed by registry, each with a base64 "auth" of
// user:password, or a "username" and "password".
type authFileKeychain struct{ path string }

// Resolve implements authn.Keychain.
func (k authFileKeychain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	auths, err := readAuths(k.path)
	if err != nil {
		return nil, err
	}
	reg := target.RegistryStr()
	keys := []string{reg}
	if reg == name.DefaultRegistry {
		keys = append(keys, dockerHubAuthKey, "docker.io")
	}
	for _, key := range keys {
		raw, ok := auths[key]
		if !ok {
			continue
		}
		var e struct{ Auth, Username, Password string }
		if err := json.Unmarshal(raw, &e); err != nil {
			return nil, fmt.Errorf("%s: auths[%q]: %w", k.path, key, err)
		}
		if e.Auth != "" {
			dec, err := base64.StdEncoding.DecodeString(e.Auth)
			if err != nil {
				return nil, fmt.Errorf("%s: auths[%q]: bad auth: %w", k.path, key, err)
			}
			e.Username, e.Password, _ = strings.Cut(string(dec), ":")
		}
		return authn.FromConfig(authn.AuthConfig{Username: e.Username, Password: e.Password}), nil
	}
	return authn.Anonymous, nil
}

// readAuths reads an auth file's "auths"; a missing file has none.
func readAuths(path string) (map[string]json.RawMessage, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var doc struct {
		Auths map[string]json.RawMessage `json:"auths"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s is not valid JSON: %w", path, err)
	}
	return doc.Auths, nil
}

// credsKeychain is --creds USER[:PASSWORD]: those, for every registry.
type credsKeychain struct{ auth authn.AuthConfig }

// Resolve implements authn.Keychain.
func (k credsKeychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	return authn.FromConfig(k.auth), nil
}

// WithAuth returns r with --authfile (credentials read from and, for
// login, written to that file instead of docker's config.json) and
// --creds USER:PASSWORD (those alone) applied; empty ones change nothing.
func (r Registries) WithAuth(authFile, creds string) (Registries, error) {
	if authFile != "" {
		r.AuthFile, r.Keychain = authFile, authFileKeychain{authFile}
	}
	if creds != "" {
		user, password, ok := strings.Cut(creds, ":")
		if !ok || user == "" {
			return r, errors.New("--creds: want USER:PASSWORD")
		}
		r.Keychain = credsKeychain{authn.AuthConfig{Username: user, Password: password}}
	}
	return r, nil
}

// WithoutTLSVerify returns r with the registry of ref (a reference, or a
// registry name for login) reached without TLS verification, or over
// plain HTTP: --tls-verify=false.
func (r Registries) WithoutTLSVerify(ref string) Registries {
	host := ref
	if parsed, err := name.ParseReference(ref); err == nil {
		host = parsed.Context().RegistryStr()
	}
	r.Insecure = append(append([]string{}, r.Insecure...), host)
	return r
}
