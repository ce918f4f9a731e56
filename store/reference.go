package store

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// dockerHub is how tug writes Docker Hub in image names, as docker does.
const dockerHub = "docker.io"

// ParseReference parses an image reference with docker's normalization:
// "alpine" is docker.io/library/alpine:latest, "user/app:1" is
// docker.io/user/app:1. The error says why a reference is invalid.
func ParseReference(s string) (name.Reference, error) {
	if s == "" {
		return nil, fmt.Errorf("invalid reference format: empty name")
	}
	if repo := repositoryPart(s); strings.ToLower(repo) != repo {
		return nil, fmt.Errorf("invalid reference format %q: repository name must be lowercase", s)
	}
	ref, err := name.ParseReference(s, name.WithDefaultRegistry(dockerHub))
	if err != nil {
		return nil, fmt.Errorf("invalid reference format %q: %s", s, strings.TrimPrefix(err.Error(), "could not parse reference: "))
	}
	for _, part := range strings.Split(ref.Context().RepositoryStr(), "/") {
		if !pathComponent.MatchString(part) {
			return nil, fmt.Errorf("invalid reference format %q: %q must start and end with a letter or digit, with only '.', '_' or '-' between", s, part)
		}
	}
	return ref, nil
}

// repositoryPart strips the registry host, tag and digest from a
// reference as typed.
func repositoryPart(s string) string {
	s, _, _ = strings.Cut(s, "@")
	if i := strings.LastIndex(s, ":"); i > strings.LastIndex(s, "/") {
		s = s[:i]
	}
	if host, rest, ok := strings.Cut(s, "/"); ok && (strings.ContainsAny(host, ".:") || host == "localhost") {
		return rest
	}
	return s
}

// pathComponent is one element of a repository path, as the distribution
// spec defines it.
var pathComponent = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)

// RepositoryName returns the canonical repository of ref, with docker.io
// for Docker Hub: docker.io/library/alpine.
func RepositoryName(r name.Repository) string {
	reg := r.RegistryStr()
	if reg == name.DefaultRegistry {
		reg = dockerHub
	}
	return reg + "/" + r.RepositoryStr()
}

// CanonicalName returns ref as the store records it:
// docker.io/library/alpine:latest or docker.io/library/alpine@sha256:….
func CanonicalName(ref name.Reference) string {
	sep := ":"
	if _, ok := ref.(name.Digest); ok {
		sep = "@"
	}
	return RepositoryName(ref.Context()) + sep + ref.Identifier()
}

// NormalizeName parses s and returns its canonical form.
func NormalizeName(s string) (string, error) {
	ref, err := ParseReference(s)
	if err != nil {
		return "", err
	}
	return CanonicalName(ref), nil
}

// SplitName splits a canonical tagged name into repository and tag.
func SplitName(n string) (repo, tag string) {
	if i := strings.LastIndex(n, ":"); i > strings.LastIndex(n, "/") {
		return n[:i], n[i+1:]
	}
	return n, ""
}
