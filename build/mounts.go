package build

// RUN --mount: cache (a directory of the store's that outlives builds
// and is no part of the key), bind (a context or stage path; read-only
// unless rw, whose writes a copy takes, as BuildKit discards them),
// tmpfs, and secret (a file given with --secret, never in a layer nor
// the key).

import (
	"archive/tar"
	"cmp"
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"

	"tug/run"
	"tug/store/archive"
)

// runMounts are what a RUN's --mount flags add to its container.
type runMounts struct {
	mounts  []string // --mount type=bind specs
	tmpfs   []string // --tmpfs specs
	env     []string // secrets given as env
	targets []string // mount points the RUN's container makes, left out of its layer
}

// mountTarget is where m goes in the container: its target, relative to
// the working directory.
func (st *state) mountTarget(m *instructions.Mount) string {
	t := m.Target
	if m.Type == instructions.MountTypeSecret && t == "" {
		t = "/run/secrets/" + m.CacheID
	}
	if !path.IsAbs(t) {
		t = path.Join(cmp.Or(st.cf.Config.WorkingDir, "/"), t)
	}
	return path.Clean(t)
}

// runMounts prepares the RUN's mounts.
func (st *state) runMounts(c *instructions.RunCommand) (*runMounts, error) {
	rm := &runMounts{}
	for _, m := range instructions.GetMounts(c) {
		target := st.mountTarget(m)
		var err error
		switch m.Type {
		case instructions.MountTypeCache:
			err = st.cacheMount(rm, m, target)
		case instructions.MountTypeBind:
			err = st.bindMount(rm, m, target)
		case instructions.MountTypeTmpfs:
			spec := target + ":mode=1777"
			if m.SizeLimit > 0 {
				spec += fmt.Sprintf(",size=%d", m.SizeLimit)
			}
			rm.tmpfs = append(rm.tmpfs, spec)
		case instructions.MountTypeSecret:
			err = st.secretMount(rm, m, target)
		default:
			err = fmt.Errorf("--mount=type=%s is not supported by tug build", m.Type)
		}
		if err != nil {
			return nil, err
		}
		if m.Type != instructions.MountTypeSecret || m.Env == nil || m.Target != "" {
			rm.targets = append(rm.targets, strings.TrimPrefix(target, "/"))
		}
	}
	return rm, nil
}

// bind adds a bind mount of the host path src at target.
func (rm *runMounts) bind(src, target string, readOnly bool) error {
	fields := []string{"type=bind", "src=" + src, "dst=" + target}
	if readOnly {
		fields = append(fields, "readonly")
	}
	var b strings.Builder
	w := csv.NewWriter(&b)
	if err := w.Write(fields); err != nil {
		return err
	}
	w.Flush()
	rm.mounts = append(rm.mounts, strings.TrimSuffix(b.String(), "\n"))
	return nil
}

// cacheMount binds a directory of the store's build cache, made on first
// use with the mount's mode and owner, kept between builds.
func (st *state) cacheMount(rm *runMounts, m *instructions.Mount, target string) error {
	dir := st.b.s.BuildCacheMount(cmp.Or(m.CacheID, target))
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		mode, uid, gid := mountOwner(m, 0o755)
		if err := st.b.s.MakeBuildCacheMount(dir, mode, uid, gid); err != nil {
			return err
		}
	}
	return rm.bind(dir, target, m.ReadOnly)
}

// bindMount binds a path of the context, or of a stage or image (from=),
// read-only; rw gets a copy, whose writes go nowhere.
func (st *state) bindMount(rm *runMounts, m *instructions.Mount, target string) error {
	src := strings.TrimPrefix(path.Clean("/"+m.Source), "/")
	t, err := st.mountTree(m)
	if err != nil {
		return err
	}
	defer t.close()
	if ct, ok := t.(*contextTree); ok && m.ReadOnly && ct.ignore == nil {
		real, err := ct.realPath(src) // the context itself, nothing to leave out
		if err != nil {
			return err
		}
		return rm.bind(real, target, true)
	}
	dir := st.b.tempFile("bind")
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	isDir, err := t.isDir(src)
	if err != nil {
		return err
	}
	name, copyTo := ".", dir
	if !isDir {
		name, copyTo = path.Base(src), filepath.Join(dir, path.Base(src))
	}
	u, err := archive.NewUnpacker(dir, archive.Options{Umask: st.b.s.Umask(), Chown: os.Geteuid() == 0, Literal: true})
	if err != nil {
		return err
	}
	err = t.write(src, name, u, func(*tar.Header) {}, false)
	if cerr := u.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("bind %s: %w", m.Source, err)
	}
	return rm.bind(copyTo, target, m.ReadOnly)
}

// mountTree is the tree a bind mount takes its source from.
func (st *state) mountTree(m *instructions.Mount) (tree, error) {
	if m.From != "" {
		return st.b.stageTree(m.From)
	}
	return st.b.contextTree()
}

// requiredSecrets fails a RUN whose required secret was not given, be
// its step cached or not.
func (b *builder) requiredSecrets(c *instructions.RunCommand) error {
	for _, m := range instructions.GetMounts(c) {
		if _, ok := b.opt.Secrets[m.CacheID]; m.Type == instructions.MountTypeSecret && m.Required && !ok {
			return fmt.Errorf("secret %s: required, and not given (--secret id=%s,src=PATH)", m.CacheID, m.CacheID)
		}
	}
	return nil
}

// secretMount binds a copy of the secret --secret gave (mode 0400 and
// root's, unless the mount says otherwise), or sets it as an env var.
func (st *state) secretMount(rm *runMounts, m *instructions.Mount, target string) error {
	src, ok := st.b.opt.Secrets[m.CacheID]
	if !ok {
		return nil // not required: requiredSecrets saw to the others
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("secret %s: %w", m.CacheID, err)
	}
	if m.Env != nil {
		rm.env = append(rm.env, cmp.Or(*m.Env, m.CacheID)+"="+string(data))
		if m.Target == "" {
			return nil
		}
	}
	file := st.b.tempFile("secret")
	mode, uid, gid := mountOwner(m, 0o400)
	if err := os.WriteFile(file, data, 0o600); err != nil {
		return err
	}
	if err := os.Chown(file, uid, gid); err != nil {
		return err
	}
	if err := os.Chmod(file, mode); err != nil {
		return err
	}
	return rm.bind(file, target, true)
}

// apply adds the mounts to a RUN's container options.
func (rm *runMounts) apply(opt *run.Options) {
	opt.Mounts = append(opt.Mounts, rm.mounts...)
	opt.Security.Tmpfs = append(opt.Security.Tmpfs, rm.tmpfs...)
	opt.Env = append(opt.Env, rm.env...)
}

// mountsKey is what a RUN's mounts add to its cache key: the content
// of what its bind mounts bring in (caches and secrets add nothing).
func (st *state) mountsKey(c *instructions.RunCommand) ([]string, error) {
	var parts []string
	for _, m := range instructions.GetMounts(c) {
		if m.Type != instructions.MountTypeBind {
			continue
		}
		t, err := st.mountTree(m)
		if err != nil {
			return nil, err
		}
		src := strings.TrimPrefix(path.Clean("/"+m.Source), "/")
		p := &copyPlan{src: t, srcs: []string{src}, dest: "/", fix: func(*tar.Header) {}}
		sum, err := p.hash()
		t.close()
		if err != nil {
			return nil, fmt.Errorf("--mount=type=bind,source=%s: %w", m.Source, err)
		}
		parts = append(parts, "bind "+m.Source+" "+sum)
	}
	return parts, nil
}

// mountOwner is a cache or secret mount's mode (mode= or def), uid= and
// gid= (root's without them).
func mountOwner(m *instructions.Mount, def os.FileMode) (mode os.FileMode, uid, gid int) {
	mode = def
	if m.Mode != nil {
		mode = os.FileMode(*m.Mode) & os.ModePerm
	}
	if m.UID != nil {
		uid = int(*m.UID)
	}
	if m.GID != nil {
		gid = int(*m.GID)
	}
	return mode, uid, gid
}
