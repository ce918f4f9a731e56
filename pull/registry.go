// Package pull moves images between registries or archives and the
// store: pull and push through go-containerregistry, with mirrors,
// insecure registries and the docker keychain, and save and load of
// docker and OCI archives.
package pull

import (
	"crypto/tls"
	"net/http"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Registries is the registry part of the configuration.
type Registries struct {
	// Insecure lists hosts reached over plain HTTP or with TLS
	// verification off.
	Insecure []string
	// Mirrors maps a registry ("docker.io") to mirrors tried first, in
	// order; each is a host[:port] with an optional path prefix.
	Mirrors map[string][]string
	// Keychain finds credentials; nil means ~/.docker/config.json and
	// its credential helpers.
	Keychain authn.Keychain
	// AuthFile, when set, is where login writes and logout removes
	// credentials instead of docker's config.json (--authfile).
	AuthFile string
	// UserAgent is sent with every request.
	UserAgent string
}

func (r Registries) keychain() authn.Keychain {
	if r.Keychain != nil {
		return r.Keychain
	}
	return authn.DefaultKeychain
}

func (r Registries) insecure(host string) bool {
	return slices.Contains(r.Insecure, host)
}

// nameOptions returns the options for names on host: insecure (plain
// HTTP allowed) when the config lists it.
func (r Registries) nameOptions(host string) []name.Option {
	if r.insecure(host) {
		return []name.Option{name.Insecure}
	}
	return nil
}

// transport returns an HTTP transport for host, without TLS verification
// when the config lists it as insecure.
func (r Registries) transport(host string) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if r.insecure(host) {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the user listed this registry as insecure
	}
	return tr
}

// repository re-creates repo on loc, a mirror (host[:port][/prefix]) or
// the registry itself.
func (r Registries) repository(loc, repo string) (name.Repository, error) {
	host, prefix, _ := strings.Cut(loc, "/")
	if prefix != "" {
		repo = prefix + "/" + repo
	}
	return name.NewRepository(host+"/"+repo, r.nameOptions(host)...)
}

// options returns the remote options for talking to host.
func (r Registries) options(host string, extra ...remote.Option) []remote.Option {
	opts := []remote.Option{remote.WithAuthFromKeychain(r.keychain()), remote.WithTransport(r.transport(host))}
	if r.UserAgent != "" {
		opts = append(opts, remote.WithUserAgent(r.UserAgent))
	}
	return append(opts, extra...)
}

// sources returns where to fetch ref from: each mirror of its registry,
// then the registry itself.
func (r Registries) sources(ref name.Reference) ([]name.Reference, error) {
	reg := ref.Context().RegistryStr()
	key := reg
	if reg == name.DefaultRegistry {
		key = "docker.io"
	}
	var out []name.Reference
	for _, m := range append(slices.Clone(r.Mirrors[key]), reg) {
		repo, err := r.repository(m, ref.Context().RepositoryStr())
		if err != nil {
			return nil, err
		}
		if d, ok := ref.(name.Digest); ok {
			out = append(out, repo.Digest(d.DigestStr()))
		} else {
			out = append(out, repo.Tag(ref.Identifier()))
		}
	}
	return out, nil
}
