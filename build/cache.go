package build

// The cache. A step's key digests its parent's key, the instruction,
// the values of the variables it expanded, and for RUN the build args it
// sees (the command may read any of them) and for COPY and ADD the
// content of exactly the files it selects. An ARG adds its name, not its
// value, so a changed build arg re-runs only the steps that use it. Only
// steps that make a layer are recorded: the others are functions of
// their parent (nop), replayed in no time.

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"

	"tug/store"
)

// digest is the hex SHA-256 of parts, each length-prefixed.
func digest(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s\n", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// step runs one instruction through the cache. It tells whether the
// step came from the cache, and whether it makes a layer.
func (st *state) step(cmd instructions.Command) (cached, layered bool, err error) {
	used, err := st.expand(cmd)
	if err != nil {
		return false, false, err
	}
	text := cmd.(fmt.Stringer).String()
	parts := []string{st.key, text}
	env := st.env()
	for _, k := range used {
		v, _ := lookupEnv(env, k)
		parts = append(parts, k+"="+v)
	}
	var spec copySpec
	switch c := cmd.(type) {
	case *instructions.RunCommand:
		if err := st.b.requiredSecrets(c); err != nil {
			return false, true, err
		}
		binds, err := st.mountsKey(c)
		if err != nil {
			return false, true, err
		}
		parts = append(append(append(parts, st.argEnv()...), binds...), "network="+runNetwork(c, st.b.opt.Network))
		for _, f := range c.Files {
			parts = append(parts, "heredoc "+f.Name, f.Data)
		}
		cached, err := st.cachedLayer(parts, func() error { return st.run(c, text) })
		return cached, true, err
	case *instructions.CopyCommand:
		if c.Parents || len(c.ExcludePatterns) > 0 {
			return false, true, errors.New("COPY --parents and --exclude are not supported by tug build yet")
		}
		spec = copySpec{c.SourcesAndDest, c.From, c.Chown, c.Chmod, false, c.Link, ""}
	case *instructions.AddCommand:
		if len(c.ExcludePatterns) > 0 || c.Unpack != nil && !*c.Unpack {
			return false, true, errors.New("ADD --exclude and --unpack=false are not supported by tug build yet")
		}
		spec = copySpec{c.SourcesAndDest, "", c.Chown, c.Chmod, true, c.Link, c.Checksum}
	default:
		st.key = digest(parts...)
		return false, false, st.do(cmd)
	}
	plan, err := st.planCopy(spec)
	if err != nil {
		return false, true, err
	}
	defer plan.close()
	sum, err := plan.hash()
	if err != nil {
		return false, true, err
	}
	cached, err = st.cachedLayer(append(parts, sum), func() error {
		return st.copy(plan, text)
	})
	return cached, true, err
}

// cachedLayer takes a layer step's result from the cache, or makes it
// and records it, under the step's lock: two builds of one step at once
// run it once.
func (st *state) cachedLayer(parts []string, make func() error) (bool, error) {
	b := st.b
	key := digest(parts...)
	lock, err := b.s.LockBuildStep(key)
	if err != nil {
		return false, err
	}
	defer lock.Unlock()
	if !b.opt.NoCache {
		if img, ok := b.s.LookupBuildStep(key); ok {
			if err := st.load(img); err == nil {
				st.key = key
				return true, nil
			}
		}
	}
	if err := make(); err != nil {
		return false, err
	}
	img, err := mutate.ConfigFile(st.img, st.cf)
	if err != nil {
		return false, err
	}
	simg, err := b.s.AddImage(b.ctx, img, store.AddOptions{Cache: true})
	if err != nil {
		return false, err
	}
	if err := b.s.RecordBuildStep(key, simg.ID); err != nil {
		return false, err
	}
	st.key = key
	return false, st.load(simg)
}

// load takes img, from the store, as the stage's image so far.
func (st *state) load(img *store.Image) error {
	v, err := st.b.s.V1Image(img)
	if err != nil {
		return err
	}
	cf, err := v.ConfigFile()
	if err != nil {
		return err
	}
	st.img, st.cf = v, cf.DeepCopy()
	return nil
}
