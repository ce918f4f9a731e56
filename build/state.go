package build

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/signal"
	"path"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"golang.org/x/sys/unix"

	"tug/run"
	"tug/store"
)

// state is a stage being built: its image so far, the config its next
// instructions edit, and the ARGs it has declared.
type state struct {
	b         *builder
	img       v1.Image
	cf        *v1.ConfigFile
	args      map[string]string
	cmdSet    bool // this stage set CMD (an ENTRYPOINT then keeps it)
	argsOrder []string
	key       string // the cache key of the steps so far
}

// env is what words are expanded with: the config's Env, then the ARGs.
func (st *state) env() []string {
	return append(append([]string{}, st.cf.Config.Env...), st.argEnv()...)
}

// argEnv are the ARGs as K=V, less those an ENV of the same name hides,
// as a RUN sees them.
func (st *state) argEnv() []string {
	var env []string
	for _, k := range st.argsOrder {
		if _, set := lookupEnv(st.cf.Config.Env, k); !set {
			env = append(env, k+"="+st.args[k])
		}
	}
	return env
}

// lookupEnv finds key in a K=V list.
func lookupEnv(env []string, key string) (string, bool) {
	for _, kv := range env {
		if k, v, _ := strings.Cut(kv, "="); k == key {
			return v, true
		}
	}
	return "", false
}

// setEnv sets key=value in a K=V list.
func setEnv(env []string, key, value string) []string {
	for i, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == key {
			env[i] = key + "=" + value
			return env
		}
	}
	return append(env, key+"="+value)
}

// expand expands the words of cmd with the stage's env and ARGs, and
// returns the names it used, sorted.
func (st *state) expand(cmd instructions.Command) ([]string, error) {
	ex, ok := cmd.(instructions.SupportsSingleWordExpansion)
	if !ok {
		return nil, nil
	}
	env := shell.EnvsFromSlice(st.env())
	lex := shell.NewLex(st.b.df.Escape) // one a stage: a Lex is not safe to share
	used := map[string]struct{}{}
	err := ex.Expand(func(word string) (string, error) {
		res, err := lex.ProcessWordWithMatches(word, env)
		maps.Copy(used, res.Matched)
		return res.Result, err
	})
	return slices.Sorted(maps.Keys(used)), err
}

// do runs one instruction, its words expanded already.
func (st *state) do(cmd instructions.Command) error {
	text := cmd.(fmt.Stringer).String()
	switch c := cmd.(type) {
	case *instructions.ArgCommand:
		for _, kv := range c.Args {
			v, inMeta := st.b.meta[kv.Key]
			if kv.Value != nil || !inMeta {
				v = st.b.argValue(kv.Key, kv.Value)
			}
			if _, seen := st.args[kv.Key]; !seen {
				st.argsOrder = append(st.argsOrder, kv.Key)
			}
			st.args[kv.Key] = v
		}
	case *instructions.MaintainerCommand:
		st.cf.Author = c.Maintainer
	default:
		if !setConfig(&st.cf.Config, cmd, &st.cmdSet) {
			return fmt.Errorf("%T: not supported by tug build yet", cmd)
		}
	}
	nop(st.cf, text)
	return nil
}

// setConfig applies an instruction that changes only an image's config
// (ENV, LABEL, CMD…) to cfg, and says whether cmd was one. cmdSet tells
// whether a CMD came before, which an ENTRYPOINT keeps; CMD sets it.
func setConfig(cfg *v1.Config, cmd instructions.Command, cmdSet *bool) bool {
	switch c := cmd.(type) {
	case *instructions.EnvCommand:
		for _, kv := range c.Env {
			cfg.Env = setEnv(cfg.Env, kv.Key, kv.Value)
		}
	case *instructions.LabelCommand:
		if cfg.Labels == nil {
			cfg.Labels = map[string]string{}
		}
		for _, kv := range c.Labels {
			cfg.Labels[kv.Key] = kv.Value
		}
	case *instructions.WorkdirCommand:
		cfg.WorkingDir = path.Join(cmp.Or(cfg.WorkingDir, "/"), c.Path)
		if path.IsAbs(c.Path) {
			cfg.WorkingDir = path.Clean(c.Path)
		}
	case *instructions.UserCommand:
		cfg.User = c.User
	case *instructions.CmdCommand:
		cfg.Cmd, *cmdSet = shellForm(cfg.Shell, c.CmdLine, c.PrependShell), true
	case *instructions.EntrypointCommand:
		cfg.Entrypoint = shellForm(cfg.Shell, c.CmdLine, c.PrependShell)
		if !*cmdSet {
			cfg.Cmd = nil // docker: an ENTRYPOINT drops the base image's CMD
		}
	case *instructions.ExposeCommand:
		if cfg.ExposedPorts == nil {
			cfg.ExposedPorts = map[string]struct{}{}
		}
		for _, p := range c.Ports {
			if !strings.Contains(p, "/") {
				p += "/tcp"
			}
			cfg.ExposedPorts[p] = struct{}{}
		}
	case *instructions.VolumeCommand:
		if cfg.Volumes == nil {
			cfg.Volumes = map[string]struct{}{}
		}
		for _, v := range c.Volumes {
			cfg.Volumes[v] = struct{}{}
		}
	case *instructions.StopSignalCommand:
		cfg.StopSignal = c.Signal
	case *instructions.ShellCommand:
		cfg.Shell = c.Shell
	case *instructions.HealthCheckCommand:
		h := c.Health
		cfg.Healthcheck = &v1.HealthConfig{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout, StartPeriod: h.StartPeriod, Retries: h.Retries}
	case *instructions.OnbuildCommand:
		cfg.OnBuild = append(cfg.OnBuild, c.Expression)
	default:
		return false
	}
	return true
}

// run runs a RUN instruction in a container of the image so far, as
// tug run does (namespaces, seccomp, capabilities), and makes its
// changes a layer.
func (st *state) run(c *instructions.RunCommand, text string) error {
	for _, f := range c.FlagsUsed {
		if f != "mount" && f != "network" {
			return fmt.Errorf("RUN --%s is not supported by tug build", f)
		}
	}
	b := st.b
	mounts, err := st.runMounts(c)
	if err != nil {
		return err
	}
	img, err := mutate.ConfigFile(st.img, st.cf)
	if err != nil {
		return err
	}
	simg, err := b.addTemporary(img)
	if err != nil {
		return err
	}
	opt := b.opt.Run
	opt.EntrypointSet, opt.Entrypoint = true, []string{""}
	if opt.Cmd, err = st.runArgs(c, mounts); err != nil {
		return err
	}
	opt.Network = runNetwork(c, b.opt.Network)
	opt.Env = append(opt.Env, st.argEnv()...)
	mounts.apply(&opt)
	ctr, err := run.Create(b.s, simg, "", opt)
	if err != nil {
		return err
	}
	defer removeContainer(b.s, ctr)
	snap, err := run.TakeSnapshot(b.s, ctr) // the copy driver's; nil for the others
	if err != nil {
		return err
	}
	interrupted, stop := cancelOnInterrupt(b, ctr)
	code, err := run.Start(b.s, ctr, run.IO{Stdout: b.opt.Out, Stderr: b.opt.Out})
	stop()
	if err != nil {
		return err
	}
	if interrupted.Load() {
		return errors.New("interrupted")
	}
	if code != 0 {
		return &StepFailed{Command: strings.Join(opt.Cmd, " "), Code: code}
	}
	committed, err := run.Commit(b.ctx, b.s, ctr, run.CommitOptions{Header: b.clamp, Skip: mounts.targets, Uncompressed: true, Since: snap})
	if err != nil {
		return err
	}
	b.keep(committed) // made just now
	out, err := b.s.V1Image(committed)
	if err != nil {
		return err
	}
	return st.setLayered(out, text)
}

// runArgs is what a RUN runs. With a heredoc as its whole command, the
// heredoc's text goes to the shell, or, from a #! line on, is a script
// (bound read-only at /dev/pipes/NAME) run as it is; a heredoc inside a
// command goes back to the shell whole, which reads heredocs itself.
func (st *state) runArgs(c *instructions.RunCommand, mounts *runMounts) ([]string, error) {
	if len(c.Files) == 0 {
		return shellForm(st.cf.Config.Shell, c.CmdLine, c.PrependShell), nil
	}
	if len(c.CmdLine) != 1 || !c.PrependShell {
		return nil, fmt.Errorf("a heredoc needs the shell form of RUN")
	}
	if parser.MustParseHeredoc(c.CmdLine[0]) == nil {
		var b strings.Builder
		b.WriteString(c.CmdLine[0])
		for _, f := range c.Files {
			b.WriteString("\n" + f.Data + f.Name)
		}
		return shellForm(st.cf.Config.Shell, []string{b.String()}, true), nil
	}
	f := c.Files[0]
	data := f.Data
	if f.Chomp {
		data = parser.ChompHeredocContent(data)
	}
	if !strings.HasPrefix(data, "#!") {
		return shellForm(st.cf.Config.Shell, []string{data}, true), nil
	}
	script := st.b.tempFile("script")
	if err := os.WriteFile(script, []byte(data), 0o755); err != nil {
		return nil, err
	}
	target := "/dev/pipes/" + path.Base(path.Clean("/"+f.Name))
	if err := mounts.bind(script, target, true); err != nil {
		return nil, err
	}
	return []string{target}, nil
}

// cancelOnInterrupt kills the RUN's container when tug gets SIGINT or
// SIGTERM (Ctrl-C), which its pid 1 may well ignore: a build stops, as
// docker's does. It tells whether that happened; stop ends the watch.
func cancelOnInterrupt(b *builder, ctr *store.Container) (*atomic.Bool, func()) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	var hit atomic.Bool
	go func() {
		select {
		case <-sigs:
			hit.Store(true)
			run.Signal(b.s, ctr, unix.SIGKILL)
		case <-done:
		}
	}()
	return &hit, func() { signal.Stop(sigs); close(done) }
}

// runNetwork is a RUN's network: its --network, else the build's.
func runNetwork(c *instructions.RunCommand, build string) string {
	switch n := instructions.GetNetwork(c); n {
	case instructions.NetworkNone, instructions.NetworkHost:
		return string(n)
	}
	return cmp.Or(build, "bridge")
}

// addTemporary stores img for a RUN's container. One the store did not
// hold before is removed at the end of the build; one it held (the base
// image itself, when the stage changed nothing before its RUN) is the
// user's and stays.
func (b *builder) addTemporary(img v1.Image) (*store.Image, error) {
	id, err := img.ConfigName()
	if err != nil {
		return nil, err
	}
	if held, err := b.s.LookupImage(id.Hex); err == nil {
		return held, nil
	}
	simg, err := b.s.AddImage(b.ctx, img, store.AddOptions{})
	if err != nil {
		return nil, err
	}
	b.keep(simg)
	return simg, nil
}

// StepFailed is a RUN whose command exited non-zero.
type StepFailed struct {
	Command string
	Code    int
}

func (e *StepFailed) Error() string {
	return fmt.Sprintf("%s: exit code %d", e.Command, e.Code)
}

// setLayered takes img, whose last layer the instruction text made, as
// the stage's image so far, with text in its history.
func (st *state) setLayered(img v1.Image, text string) error {
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	if n := len(cf.History); n > 0 {
		cf.History[n-1].CreatedBy, cf.History[n-1].Created = text, st.b.now()
		cf.History[n-1].Author, cf.History[n-1].Comment = "", ""
	}
	cf.Config = st.cf.Config
	cf.Author, cf.Created = st.cf.Author, st.b.now()
	st.img, st.cf = img, cf
	return nil
}
