package commands

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"tug/build"
	"tug/internal/human"
	"tug/pull"
	"tug/run"
	"tug/store"
)

func buildCommand() *cli.Command {
	return &cli.Command{
		Name:      "build",
		Before:    inUserNS,
		Usage:     "build an image from a Dockerfile",
		ArgsUsage: "CONTEXT",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "tag", Aliases: []string{"t"}, Usage: "name the image NAME[:TAG] (repeatable)"},
			&cli.StringFlag{Name: "file", Aliases: []string{"f"}, Usage: "the Dockerfile (default CONTEXT/Dockerfile)"},
			&cli.StringSliceFlag{Name: "build-arg", Usage: "set a build arg K=V"},
			&cli.StringFlag{Name: "target", Usage: "build this stage"},
			&cli.StringSliceFlag{Name: "label", Usage: "add a label K=V to the image"},
			&cli.StringFlag{Name: "network", Usage: "RUN's network: bridge, none or host", Value: "bridge"},
			&cli.GenericFlag{Name: "pull", Usage: "pull FROM's images: missing (the default), always or never; a bare --pull is always, as docker's", Value: &pullValue{"missing"}},
			&cli.StringFlag{Name: "progress", Usage: "auto, plain or tty: each step and its output, as plain text", Value: "auto"},
			&cli.StringFlag{Name: "format", Usage: "the image's manifest: oci or docker", Value: "oci"},
			&cli.BoolFlag{Name: "layers", Usage: "take steps from the build cache (--layers=false: none, as --no-cache)", Value: true},
			&cli.StringFlag{Name: "platform", Usage: "the image's platform: this host's only"},
			&cli.StringFlag{Name: "iidfile", Usage: "write the image ID to FILE"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only the image ID"},
			&cli.BoolFlag{Name: "no-cache", Usage: "run every step, not taking any from the build cache"},
			&cli.StringSliceFlag{Name: "secret", Usage: "id=ID,src=PATH: a file RUN --mount=type=secret,id=ID can read, in no layer"},
			&cli.Int64Flag{Name: "timestamp", Usage: "set every time in the image, files' included, to SECONDS since the epoch (a reproducible build; SOURCE_DATE_EPOCH clamps them instead)"},
		},
		Action: buildAction,
	}
}

func buildAction(c *cli.Context) error {
	if err := needArgs(c, 1, 1); err != nil {
		return err
	}
	switch p := c.String("progress"); p {
	case "auto", "plain", "tty":
	default:
		return usage(fmt.Errorf("build --progress %q: want auto, plain or tty", p))
	}
	if err := build.CheckFormat(c.String("format")); err != nil {
		return usage(fmt.Errorf("build %w", err))
	}
	dir := c.Args().First()
	if fi, err := os.Stat(dir); dir != "-" && (err != nil || !fi.IsDir()) {
		return usage(fmt.Errorf("build: context %s: not a directory", dir))
	}
	s, cfg, err := openStore(c)
	if err != nil {
		return err
	}
	stdin := dir == "-"
	if stdin {
		ctx, done, err := build.StdinContext(s, os.Stdin)
		if err != nil {
			return err
		}
		defer done()
		dir = ctx
	}
	var tags []string
	for _, t := range c.StringSlice("tag") {
		n, err := store.NormalizeName(t)
		if err != nil {
			return usage(fmt.Errorf("build -t %s: %w", t, err))
		}
		tags = append(tags, n)
	}
	file := c.String("file")
	name := file
	switch {
	case file == "":
		file, name = filepath.Join(dir, "Dockerfile"), "Dockerfile"
	case stdin:
		file = filepath.Join(dir, filepath.Clean("/"+file)) // a name in the tar
	}
	out := os.Stdout
	if c.Bool("quiet") {
		if out, err = os.OpenFile(os.DevNull, os.O_WRONLY, 0); err != nil {
			return err
		}
		defer out.Close()
	}
	regs := registries(cfg)
	opt := build.Options{
		Context: dir, Dockerfile: file, Name: name, Tags: tags, BuildArgs: keyValues(c.StringSlice("build-arg")),
		Ephemeral: stdin, Target: c.String("target"), Labels: keyValues(c.StringSlice("label")), Network: c.String("network"), Platform: c.String("platform"), Format: c.String("format"), NoCache: c.Bool("no-cache") || !c.Bool("layers"), Out: out,
		Base: func(ctx context.Context, ref string) (*store.Image, error) { return image(c, s, regs, ref) },
		Run:  configBase(c, cfg),
	}
	if opt.Epoch, opt.SetTimes, err = buildEpoch(c); err != nil {
		return err
	}
	if opt.Secrets, err = buildSecrets(c.StringSlice("secret")); err != nil {
		return err
	}
	img, err := build.Build(c.Context, s, opt)
	if err != nil {
		return coded{err, 1} // docker build's code for a failed build
	}
	if f := c.String("iidfile"); f != "" {
		if err := os.WriteFile(f, []byte(img.ID.String()), 0o644); err != nil {
			return err
		}
	}
	fmt.Println(img.ID)
	return nil
}

// pullValue is build's --pull: docker's is a bool, podman's a policy, so
// a bare --pull is always and --pull=POLICY the policy.
type pullValue struct{ policy string }

func (p *pullValue) String() string   { return p.policy }
func (p *pullValue) IsBoolFlag() bool { return true }

func (p *pullValue) Set(v string) error {
	switch v {
	case "true":
		v = "always"
	case "false":
		v = "missing"
	}
	if _, err := pull.ParsePolicy(v); err != nil {
		return err
	}
	p.policy = v
	return nil
}

// buildSecrets reads --secret id=ID,src=PATH (src alone: its base name
// is the ID, as docker has it).
func buildSecrets(flags []string) (map[string]string, error) {
	out := map[string]string{}
	for _, f := range flags {
		kv := keyValues(strings.Split(f, ","))
		src := cmp.Or(kv["src"], kv["source"])
		id := cmp.Or(kv["id"], filepath.Base(src))
		if src == "" || id == "" || len(kv) > 3 || kv["type"] != "" && kv["type"] != "file" {
			return nil, usage(fmt.Errorf("build --secret %s: want id=ID,src=PATH", f))
		}
		if _, err := os.Stat(src); err != nil {
			return nil, usage(fmt.Errorf("build --secret %s: %w", f, err))
		}
		out[id] = src
	}
	return out, nil
}

// buildEpoch is the time a reproducible build gives its image: all of
// them with --timestamp, mtimes clamped with SOURCE_DATE_EPOCH.
func buildEpoch(c *cli.Context) (time.Time, bool, error) {
	if c.IsSet("timestamp") {
		return time.Unix(c.Int64("timestamp"), 0).UTC(), true, nil
	}
	v, ok := os.LookupEnv("SOURCE_DATE_EPOCH")
	if !ok || v == "" {
		return time.Time{}, false, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, false, usage(fmt.Errorf("build: SOURCE_DATE_EPOCH=%s: want seconds since the epoch", v))
	}
	return time.Unix(n, 0).UTC(), false, nil
}

func builderCommand() *cli.Command {
	return &cli.Command{
		Name:   "builder",
		Before: inUserNS,
		Usage:  "manage tug build's cache",
		Subcommands: []*cli.Command{{
			Name:  "prune",
			Usage: "remove the build cache",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "all of it (tug keeps no other kind, so this is the default)"},
				forceFlag(),
			},
			Action: func(c *cli.Context) error {
				if err := needArgs(c, 0, 0); err != nil {
					return err
				}
				if err := confirmPrune(c, "all build cache"); err != nil {
					return err
				}
				s, _, err := openStore(c)
				if err != nil {
					return err
				}
				before, err := run.DiskUsage(s)
				if err != nil {
					return err
				}
				gone, err := s.PruneBuildCache()
				if err != nil {
					return err
				}
				after, err := run.DiskUsage(s)
				if err != nil {
					return err
				}
				if len(gone) > 0 {
					fmt.Printf("Deleted build cache objects:\n%s\n\n", strings.Join(imageIDs(gone), "\n"))
				}
				fmt.Printf("Total reclaimed space: %s\n", human.Size(reclaimedSpace(before, after)))
				return nil
			},
		}},
	}
}
