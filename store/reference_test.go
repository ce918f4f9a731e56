package store

import (
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestNormalizeName(t *testing.T) {
	digest := "sha256:" + "ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12"
	for in, want := range map[string]string{
		"alpine":                           "docker.io/library/alpine:latest",
		"alpine:3.19":                      "docker.io/library/alpine:3.19",
		"user/app:1":                       "docker.io/user/app:1",
		"docker.io/alpine":                 "docker.io/library/alpine:latest",
		"index.docker.io/library/alpine":   "docker.io/library/alpine:latest",
		"localhost:5000/x":                 "localhost:5000/x:latest",
		"ghcr.io/o/r@" + digest:            "ghcr.io/o/r@" + digest,
		"quay.io/a/b/c:v1":                 "quay.io/a/b/c:v1",
		"127.0.0.1:5000/library/busybox:x": "127.0.0.1:5000/library/busybox:x",
	} {
		got, err := NormalizeName(in)
		if err != nil || got != want {
			t.Errorf("%s: got %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "UPPER", "a b", "bad::ref", "x@sha256:short", "-lead"} {
		if got, err := NormalizeName(bad); err == nil {
			t.Errorf("%q normalized to %q", bad, got)
		}
	}
}

func TestChainIDs(t *testing.T) {
	a, _ := v1.NewHash("sha256:" + "aa00000000000000000000000000000000000000000000000000000000000000")
	b, _ := v1.NewHash("sha256:" + "bb00000000000000000000000000000000000000000000000000000000000000")
	got := ChainIDs([]v1.Hash{a, b})
	// sha256 of "sha256:aa00… sha256:bb00…", computed with sha256sum
	want := "sha256:984b64af5578dd4f974f8db59ec0625d92de466560808d74276e4e7f936c1826"
	if got[0] != a || got[1].String() != want {
		t.Errorf("chain IDs %v", got)
	}
}
