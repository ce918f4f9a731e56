package build

import (
	"archive/tar"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"golang.org/x/sync/errgroup"

	"tug/run"
	"tug/store"
)

// Options say what to build and how.
type Options struct {
	Context    string            // the context directory
	Dockerfile string            // its path
	Name       string            // the Dockerfile as errors name it
	Tags       []string          // canonical names for the image
	BuildArgs  map[string]string // --build-arg
	Target     string            // --target: the stage to build, else the last
	Labels     map[string]string // --label, over the Dockerfile's
	Network    string            // RUN's network: bridge (""), none or host
	NoCache    bool              // --no-cache: run every step (and record it anew)
	// Epoch, if set, makes the build reproducible: the image's times are
	// it, and its files' mtimes are clamped to it (SOURCE_DATE_EPOCH),
	// or all set to it with SetTimes (--timestamp).
	Epoch    time.Time
	SetTimes bool
	Platform string            // --platform: this host's, or "" for it
	Format   string            // --format: the manifest's, oci ("") or docker
	Secrets  map[string]string // --secret: ID → the file's host path
	// Ephemeral: the context is made for this build alone (stdin's),
	// so no record of its file hashes is kept.
	Ephemeral bool
	Out       *os.File // steps and RUN output
	// Base finds FROM's image in the store, pulling it as --pull says.
	Base func(ctx context.Context, ref string) (*store.Image, error)
	// Run has the defaults a RUN's container takes from tug's config.
	Run run.Options
}

// builder is one build in progress.
type builder struct {
	ctx     context.Context
	s       *store.Store
	opt     Options
	df      *Dockerfile
	meta    map[string]string // ARGs before the first FROM, as the build args set them
	results []stageResult     // a stage's, once built
	slots   chan struct{}     // stages that build at once: one a core
	steps   int               // instructions of the stages built, for STEP n/N
	tmp     string            // the build's temp dir: COPY's layers, until the image is stored

	mu         sync.Mutex // what the stages building at once share:
	step       int
	files      int
	hashesOnce sync.Once
	fileHashes *fileHashes // the context's, once loaded
	// stored are the images RUN's containers were made from and left:
	// removed at the end (their layers stay with the images that use them).
	stored []*store.Image
}

// stageResult is a stage built once, whoever asks for it first.
type stageResult struct {
	once sync.Once
	img  v1.Image
	err  error
}

// Build builds the image of the Dockerfile's target stage, adds it to
// the store under opt.Tags, and returns it.
func Build(ctx context.Context, s *store.Store, opt Options) (*store.Image, error) {
	if opt.Platform != "" {
		if err := checkPlatform(opt.Platform); err != nil {
			return nil, err
		}
	}
	df, err := ReadDockerfile(opt.Dockerfile, opt.Name)
	if err != nil {
		return nil, err
	}
	tmp, done, err := s.TempDir()
	if err != nil {
		return nil, err
	}
	defer done()
	b := &builder{ctx: ctx, s: s, opt: opt, df: df, meta: map[string]string{},
		results: make([]stageResult, len(df.Stages)), slots: make(chan struct{}, runtime.NumCPU()), tmp: tmp}
	for _, a := range df.MetaArgs {
		for _, kv := range a.Args {
			b.meta[kv.Key] = b.argValue(kv.Key, kv.Value)
		}
	}
	target := len(df.Stages) - 1
	if opt.Target != "" {
		i, ok := df.stageIndex(opt.Target, len(df.Stages))
		if !ok {
			return nil, fmt.Errorf("--target %s: no stage of that name in %s", opt.Target, opt.Name)
		}
		target = i
	}
	b.steps = b.countSteps(target)
	defer b.removeStored()
	defer b.saveHashes()
	img, err := b.stage(target)
	if err != nil {
		return nil, err
	}
	if len(opt.Labels) > 0 {
		if img, err = editConfig(img, func(cf *v1.ConfigFile) { addLabels(cf, opt.Labels) }); err != nil {
			return nil, err
		}
	}
	if img, err = inFormat(img, opt.Format); err != nil {
		return nil, err
	}
	out, err := s.AddImage(ctx, img, store.AddOptions{Names: opt.Tags})
	if err != nil {
		return nil, err
	}
	b.stored = slices.DeleteFunc(b.stored, func(i *store.Image) bool { return i.ID == out.ID })
	s.Emit("image", "build", out.ID.String(), map[string]string{"name": strings.Join(opt.Tags, ",")})
	return out, nil
}

// removeStored removes the images the build stored on its way that no
// name or container holds.
func (b *builder) removeStored() {
	for _, img := range b.stored {
		b.s.RemoveImage(img.ID.Hex, false)
	}
}

// argValue is a build arg's value: --build-arg's, else the default.
func (b *builder) argValue(key string, def *string) string {
	if v, ok := b.opt.BuildArgs[key]; ok {
		return v
	}
	if def != nil {
		return *def
	}
	return ""
}

// countSteps counts the instructions, FROM included, of the stages that
// target needs.
func (b *builder) countSteps(target int) int {
	seen := map[int]bool{}
	var walk func(i int) int
	walk = func(i int) int {
		if seen[i] {
			return 0
		}
		seen[i] = true
		n := 1 + len(b.df.Stages[i].Commands)
		for _, dep := range b.deps(i) {
			n += walk(dep)
		}
		return n
	}
	return walk(target)
}

// deps are the earlier stages stage i builds on: its FROM and its
// COPY --from.
func (b *builder) deps(i int) []int {
	var out []int
	st := b.df.Stages[i]
	if j, ok := b.df.stageIndex(b.expandMeta(st.BaseName), i); ok {
		out = append(out, j)
	}
	for _, c := range st.Commands {
		if cp, ok := c.(*instructions.CopyCommand); ok && cp.From != "" {
			if j, ok := b.df.stageIndex(cp.From, i); ok {
				out = append(out, j)
			}
		}
	}
	return out
}

// expandMeta expands the build args before the first FROM in word (a
// FROM's image, as docker allows).
func (b *builder) expandMeta(word string) string {
	var env []string
	for k, v := range b.meta {
		env = append(env, k+"="+v)
	}
	out, _, err := shell.NewLex(b.df.Escape).ProcessWord(word, shell.EnvsFromSlice(env))
	if err != nil {
		return word
	}
	return out
}

// announce prints STEP n/N: the instruction.
func (b *builder) announce(text string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.step++
	fmt.Fprintf(b.opt.Out, "STEP %d/%d: %s\n", b.step, b.steps, text)
}

// epochKey is what the epoch adds to the cache keys: a layer made
// without one differs from one made with it.
func (b *builder) epochKey() string {
	if b.opt.Epoch.IsZero() {
		return ""
	}
	return fmt.Sprintf("epoch=%d set=%v", b.opt.Epoch.Unix(), b.opt.SetTimes)
}

// tempFile is a new path in the build's temp dir.
func (b *builder) tempFile(name string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.files++
	return filepath.Join(b.tmp, fmt.Sprintf("%d-%s", b.files, name))
}

// keep adds img to the images removed at the end of the build.
func (b *builder) keep(img *store.Image) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stored = append(b.stored, img)
}

// stage builds stage i, once, and returns its image.
func (b *builder) stage(i int) (v1.Image, error) {
	r := &b.results[i]
	r.once.Do(func() { r.img, r.err = b.buildStage(i) })
	return r.img, r.err
}

// buildStage builds the stages stage i needs, at once, then stage i,
// when a core is free.
func (b *builder) buildStage(i int) (v1.Image, error) {
	var g errgroup.Group
	for _, dep := range b.deps(i) {
		g.Go(func() error { _, err := b.stage(dep); return err })
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	b.slots <- struct{}{}
	defer func() { <-b.slots }()
	st := b.df.Stages[i]
	b.announce(st.SourceCode)
	base, err := b.base(i)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", b.opt.Name, st.SourceCode, err)
	}
	cf, err := base.ConfigFile()
	if err != nil {
		return nil, err
	}
	baseID, err := base.ConfigName()
	if err != nil {
		return nil, err
	}
	state := &state{b: b, img: base, cf: cf.DeepCopy(), args: map[string]string{}, key: digest("FROM", baseID.String(), b.epochKey())}
	triggers, err := b.onBuild(state.cf)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", b.opt.Name, st.SourceCode, err)
	}
	for _, cmd := range append(triggers, st.Commands...) {
		text := cmd.(fmt.Stringer).String()
		b.announce(text)
		start := time.Now()
		cached, layered, err := state.step(cmd)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %s: %w", b.opt.Name, line(cmd), text, err)
		}
		switch {
		case cached:
			fmt.Fprintln(b.opt.Out, "--> CACHED")
		case layered:
			fmt.Fprintf(b.opt.Out, "--> done in %.2fs\n", time.Since(start).Seconds())
		}
	}
	return mutate.ConfigFile(state.img, state.cf)
}

// onBuild takes the base image's ONBUILD triggers out of cf (a child
// image does not inherit them) and returns them parsed, to run first in
// the stage, as docker does.
func (b *builder) onBuild(cf *v1.ConfigFile) ([]instructions.Command, error) {
	triggers := cf.Config.OnBuild
	cf.Config.OnBuild = nil
	var out []instructions.Command
	for _, t := range triggers {
		res, err := parser.Parse(strings.NewReader(t))
		if err != nil || len(res.AST.Children) != 1 {
			return nil, fmt.Errorf("ONBUILD %s: %v", t, err)
		}
		cmd, err := instructions.ParseCommand(res.AST.Children[0])
		if err != nil {
			return nil, fmt.Errorf("ONBUILD %s: %w", t, err)
		}
		out = append(out, cmd)
	}
	if len(out) > 0 {
		b.mu.Lock()
		b.steps += len(out)
		b.mu.Unlock()
	}
	return out, nil
}

// line is the Dockerfile line an instruction starts on.
func line(cmd instructions.Command) int {
	if l := cmd.Location(); len(l) > 0 {
		return l[0].Start.Line
	}
	return 0
}

// base is stage i's starting image: an earlier stage, scratch, or an
// image from the store (pulled when missing).
func (b *builder) base(i int) (v1.Image, error) {
	st := b.df.Stages[i]
	name := b.expandMeta(st.BaseName)
	if st.Platform != "" {
		if err := checkPlatform(b.expandMeta(st.Platform)); err != nil {
			return nil, err
		}
	}
	if j, ok := b.df.stageIndex(name, i); ok {
		return b.stage(j) // built already: a dependency
	}
	if name == "scratch" {
		return scratch()
	}
	img, err := b.opt.Base(b.ctx, name)
	if err != nil {
		return nil, err
	}
	return b.s.V1Image(img)
}

// checkPlatform refuses a platform other than this host's.
func checkPlatform(p string) error {
	want := "linux/" + runtime.GOARCH
	if p == want || p == "$BUILDPLATFORM" || p == "$TARGETPLATFORM" || runtime.GOARCH == "amd64" && p == "linux/amd64/v1" {
		return nil
	}
	return fmt.Errorf("--platform %s: tug builds for this host's platform, %s, only (another needs emulation with qemu-user-static and binfmt_misc)", p, want)
}

// scratch is the empty image, for this host's platform.
func scratch() (v1.Image, error) {
	return editConfig(empty.Image, func(cf *v1.ConfigFile) {
		cf.OS, cf.Architecture = "linux", runtime.GOARCH
		cf.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	})
}

// editConfig returns img with its config changed by edit.
func editConfig(img v1.Image, edit func(*v1.ConfigFile)) (v1.Image, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	edit(cf)
	return mutate.ConfigFile(img, cf)
}

// addLabels sets labels in cf's config.
func addLabels(cf *v1.ConfigFile, labels map[string]string) {
	if cf.Config.Labels == nil {
		cf.Config.Labels = map[string]string{}
	}
	for k, v := range labels {
		cf.Config.Labels[k] = v
	}
}

// now is the time a layer step records: the build's epoch if it has
// one, else the clock's.
func (b *builder) now() v1.Time {
	if !b.opt.Epoch.IsZero() {
		return v1.Time{Time: b.opt.Epoch.UTC()}
	}
	return v1.Time{Time: time.Now().UTC().Truncate(time.Second)}
}

// clamp brings a layer entry's times to the build's epoch, if it has
// one: every mtime with SetTimes (--timestamp), else only those after
// it (SOURCE_DATE_EPOCH, as BuildKit clamps); access and change times
// are left out.
func (b *builder) clamp(h *tar.Header) {
	epoch := b.opt.Epoch
	if epoch.IsZero() {
		return
	}
	if b.opt.SetTimes || h.ModTime.After(epoch) {
		h.ModTime = epoch
	}
	h.AccessTime, h.ChangeTime = time.Time{}, time.Time{}
	for _, k := range []string{"atime", "ctime", "mtime"} {
		delete(h.PAXRecords, k)
	}
}

// nop records an instruction that changes only the config, at the time
// of the image it changes: such a step is a function of its parent, so
// a rebuild whose layers all come from the cache gives the same image.
func nop(cf *v1.ConfigFile, text string) {
	cf.History = append(cf.History, v1.History{Created: cf.Created, CreatedBy: text, EmptyLayer: true})
}

// shellForm is what a shell-form CMD, ENTRYPOINT or RUN runs.
func shellForm(shellCmd []string, args []string, prepend bool) []string {
	if !prepend {
		return args
	}
	if len(shellCmd) == 0 {
		shellCmd = []string{"/bin/sh", "-c"}
	}
	return append(append([]string{}, shellCmd...), strings.Join(args, " "))
}
