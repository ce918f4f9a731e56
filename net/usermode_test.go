package net

import (
	"errors"
	"strings"
	"testing"
)

func TestPickStack(t *testing.T) {
	installed := func(names ...string) func(string) (string, error) {
		return func(n string) (string, error) {
			for _, m := range names {
				if m == n {
					return "/usr/bin/" + n, nil
				}
			}
			return "", errors.New(n + " not found")
		}
	}
	for _, tc := range []struct {
		network   string
		installed []string
		want      string // or the error's text
	}{
		{"bridge", []string{Pasta, Slirp}, Pasta},
		{"", []string{Slirp}, Slirp},
		{"bridge", nil, "neither is installed: sudo apt-get install passt (or run with --network none or --network host)"},
		{Slirp, []string{Pasta, Slirp}, Slirp},
		{Pasta, []string{Slirp}, "--network pasta: pasta is not installed (sudo apt-get install passt)"},
		{"mynet", []string{Pasta}, "a rootless container cannot join a bridge network"},
	} {
		got, err := pickStack(tc.network, installed(tc.installed...))
		if err != nil {
			got = err.Error()
		}
		if !strings.Contains(got, tc.want) {
			t.Errorf("--network %q with %v installed: %q, want %q", tc.network, tc.installed, got, tc.want)
		}
	}
}
