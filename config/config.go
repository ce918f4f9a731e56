// Package config loads tug's TOML configuration and works out the default
// paths for root and rootless users. config.toml.example documents every
// key.
package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/BurntSushi/toml"
)

// Config is the whole configuration file.
type Config struct {
	Storage    Storage    `toml:"storage"`
	Registries Registries `toml:"registries"`
	Network    Network    `toml:"network"`
	Rootless   Rootless   `toml:"rootless"`
	Engine     Engine     `toml:"engine"`
	Service    Service    `toml:"service"`
}

// Engine configures how tug runs containers.
type Engine struct {
	// CgroupManager is who makes containers' cgroups: "systemd"
	// (transient scopes), "cgroupfs" (tug itself), or "" for systemd
	// when it runs the host.
	CgroupManager string `toml:"cgroup_manager"`
}

// Service configures tug system service, the Docker API.
type Service struct {
	// Group, if set, may use the API's socket too (0660): its members
	// are as good as root, as docker's group is.
	Group string `toml:"group"`
}

// Rootless configures what an unprivileged user's tug does.
type Rootless struct {
	// StrictLimits makes resource limits that tug cannot enforce for a
	// rootless container (no delegated cgroups) an error, not a warning.
	StrictLimits bool `toml:"strict_limits"`
	// StorageDriver is how rootless containers' root filesystems are
	// made: auto, overlay, fuse-overlayfs or copy.
	StorageDriver string `toml:"storage_driver"`
}

// Network configures container networking.
type Network struct {
	// Subnet is the default bridge network's (tug0) IPv4 subnet.
	Subnet string `toml:"subnet"`
}

// Storage says where tug keeps its state.
type Storage struct {
	Root    string `toml:"root"`
	RunRoot string `toml:"runroot"`
}

// Registries configures registry access.
type Registries struct {
	// Insecure lists registries reached over plain HTTP or with TLS
	// verification off.
	Insecure []string `toml:"insecure"`
	// Mirrors maps a registry to mirrors tried in order before it.
	Mirrors map[string][]string `toml:"mirrors"`
}

// Env is what the defaults depend on; Getenv and Geteuid in production.
type Env struct {
	Getenv  func(string) string
	Geteuid func() int
	// Owned tells whether a directory exists and belongs to the user.
	Owned func(dir string) bool
}

// OSEnv is the process environment.
// In tug's user namespace the user is root, and the defaults are still
// the user's: the caller then sets Geteuid to answer with the ID outside.
func OSEnv() Env { return Env{Getenv: os.Getenv, Geteuid: os.Geteuid, Owned: owned} }

// owned compares the owner with the effective UID, both as seen from
// the namespace tug runs in.
func owned(dir string) bool {
	st, err := os.Stat(dir)
	if err != nil || !st.IsDir() {
		return false
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	return ok && int(sys.Uid) == os.Geteuid()
}

// Defaults returns the built-in configuration: /var/lib/tug and /run/tug
// for root; XDG data and runtime dirs otherwise.
func Defaults(env Env) Config {
	if env.Geteuid() == 0 {
		return Config{Storage: Storage{Root: "/var/lib/tug", RunRoot: "/run/tug"}, Network: Network{Subnet: "10.88.0.0/16"}}
	}
	return Config{Storage: Storage{Root: filepath.Join(dataHome(env), "tug"), RunRoot: RuntimeDir(env)}, Network: Network{Subnet: "10.88.0.0/16"}}
}

func dataHome(env Env) string {
	if d := env.Getenv("XDG_DATA_HOME"); filepath.IsAbs(d) {
		return d
	}
	return filepath.Join(env.Getenv("HOME"), ".local", "share")
}

// RuntimeDir is a rootless user's run root: $XDG_RUNTIME_DIR/tug, or
// /tmp/tug-UID when XDG_RUNTIME_DIR is unset or is not a directory of
// the user's (su and sudo keep another user's).
func RuntimeDir(env Env) string {
	if d := env.Getenv("XDG_RUNTIME_DIR"); filepath.IsAbs(d) && env.Owned(d) {
		return filepath.Join(d, "tug")
	}
	return filepath.Join(os.TempDir(), "tug-"+strconv.Itoa(env.Geteuid()))
}

// SocketPath is where tug system service listens by default:
// /run/tug/tug.sock for root, tug.sock in RuntimeDir for a user.
func SocketPath(env Env) string {
	if env.Geteuid() == 0 {
		return "/run/tug/tug.sock"
	}
	return filepath.Join(RuntimeDir(env), "tug.sock")
}

// DefaultPath is where the config file is looked for when neither
// --config nor TUG_CONFIG names one.
func DefaultPath(env Env) string {
	if env.Geteuid() == 0 {
		return "/etc/tug/config.toml"
	}
	if d := env.Getenv("XDG_CONFIG_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "tug", "config.toml")
	}
	return filepath.Join(env.Getenv("HOME"), ".config", "tug", "config.toml")
}

// Load reads the file at path over the defaults. A missing file is fine
// unless the user named it (explicit). Errors name the file and line.
func Load(path string, explicit bool, env Env) (Config, error) {
	cfg := Defaults(env)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && !explicit {
		return cfg, nil
	}
	if err != nil {
		return cfg, fmt.Errorf("config %s: %w", path, unwrapPath(err))
	}
	md, err := toml.Decode(string(b), &cfg)
	if err != nil {
		var perr toml.ParseError
		if errors.As(err, &perr) {
			return cfg, fmt.Errorf("config %s: line %d: %s", path, perr.Position.Line, perr.Message)
		}
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return cfg, fmt.Errorf("config %s: unknown key %s (config.toml.example lists the keys)", path, strings.Join(keys, ", "))
	}
	for _, p := range []string{cfg.Storage.Root, cfg.Storage.RunRoot} {
		if !filepath.IsAbs(p) {
			return cfg, fmt.Errorf("config %s: storage paths must be absolute, got %q", path, p)
		}
	}
	return cfg, nil
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
