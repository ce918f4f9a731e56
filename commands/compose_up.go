package commands

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"tug/build"
	"tug/compose"
	"tug/compose/plan"
	"tug/config"
	"tug/pull"
	"tug/run"
	"tug/store"
)

// composeLoad reads the project through the helper (its errors are the
// files', exit 125), prints its warnings, and opens the store.
func composeLoad(c *cli.Context) (*store.Store, config.Config, *plan.Project, error) {
	p, err := compose.Plan(composeProject(c))
	if err != nil {
		return nil, config.Config{}, nil, usage(err)
	}
	for _, w := range p.Warnings {
		fmt.Fprintln(os.Stderr, "tug: warning: "+w)
	}
	s, cfg, err := openStore(c)
	return s, cfg, p, err
}

// composeReport prints up's and down's steps, as docker compose does.
func composeReport() func(kind, name, what string) {
	var mu sync.Mutex
	return func(kind, name, what string) {
		mu.Lock()
		defer mu.Unlock()
		if kind == "Warning" {
			fmt.Fprintf(os.Stderr, "tug: warning: %s: %s\n", name, what)
			return
		}
		fmt.Fprintf(os.Stderr, " %s %s  %s\n", kind, name, what)
	}
}

// composeImage resolves a service's image: built from its build section
// when the image is missing, with --build, or under pull_policy build
// (never with --no-build); else pulled under its pull policy.
func composeImage(c *cli.Context, s *store.Store, cfg config.Config, base run.Options, forceBuild, noBuild bool) func(plan.Service) (*store.Image, error) {
	regs := registries(cfg)
	var mu sync.Mutex // one build or pull at a time: their output stays readable
	return func(svc plan.Service) (*store.Image, error) {
		mu.Lock()
		defer mu.Unlock()
		if svc.Build != nil && !noBuild {
			_, err := s.LookupImage(svc.Image)
			if forceBuild || svc.Pull == "build" || err != nil {
				return composeBuild(c, s, regs, svc, base)
			}
		}
		policy := svc.Pull
		switch policy {
		case "", "if_not_present", "build":
			policy = string(pull.PullMissing)
		}
		return kubeImage(c, s, regs, svc.Image, policy)
	}
}

// composeBuild builds svc's image from its build section.
func composeBuild(c *cli.Context, s *store.Store, regs pull.Registries, svc plan.Service, base run.Options) (*store.Image, error) {
	b := svc.Build
	tag, err := store.NormalizeName(svc.Image)
	if err != nil {
		return nil, err
	}
	file := b.Dockerfile
	if file == "" {
		file = "Dockerfile"
	}
	if !filepath.IsAbs(file) {
		file = filepath.Join(b.Context, file)
	}
	policy := string(pull.PullMissing)
	if b.Pull {
		policy = string(pull.PullAlways)
	}
	return build.Build(c.Context, s, build.Options{
		Context: b.Context, Dockerfile: file, Name: filepath.Base(file), Tags: []string{tag}, BuildArgs: keyValues(b.Args),
		Target: b.Target, Labels: keyValues(b.Labels), NoCache: b.NoCache, Out: os.Stderr, Run: base,
		Base: func(ctx context.Context, from string) (*store.Image, error) {
			return kubeImage(c, s, regs, from, policy)
		},
	})
}

// parseScale reads --scale SERVICE=N.
func parseScale(values []string) (map[string]int, error) {
	out := map[string]int{}
	for _, v := range values {
		name, n, ok := strings.Cut(v, "=")
		count, err := strconv.Atoi(n)
		if !ok || name == "" || err != nil || count < 0 {
			return nil, fmt.Errorf("--scale %q: want SERVICE=N", v)
		}
		out[name] = count
	}
	return out, nil
}

func composeUpCommand() *cli.Command {
	return &cli.Command{
		Name:      "up",
		Usage:     "create and start the project's containers, recreating those whose config changed",
		ArgsUsage: "[SERVICE...]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "start them in the background, and return"},
			&cli.BoolFlag{Name: "build", Usage: "build images before starting the containers"},
			&cli.BoolFlag{Name: "no-build", Usage: "never build an image, even a missing one"},
			&cli.BoolFlag{Name: "force-recreate", Usage: "recreate the containers even when their config is the same"},
			&cli.BoolFlag{Name: "no-recreate", Usage: "leave the containers that exist as they are"},
			&cli.BoolFlag{Name: "no-deps", Usage: "do not start the services the named ones depend on"},
			&cli.BoolFlag{Name: "no-start", Usage: "create the containers, do not start them"},
			&cli.BoolFlag{Name: "remove-orphans", Usage: "remove containers of services the files no longer have"},
			&cli.StringSliceFlag{Name: "scale", Usage: "SERVICE=N: run N containers of the service"},
			&cli.BoolFlag{Name: "wait", Usage: "wait until the services run and are healthy (implies -d)"},
			&cli.IntFlag{Name: "wait-timeout", Usage: "seconds --wait waits (default: for ever)"},
			&cli.BoolFlag{Name: "abort-on-container-exit", Usage: "stop all containers when one stops (attached)"},
		},
		Action: func(c *cli.Context) error {
			s, cfg, p, err := composeLoad(c)
			if err != nil {
				return err
			}
			scale, err := parseScale(c.StringSlice("scale"))
			if err != nil {
				return usage(err)
			}
			base := configBase(c, cfg)
			opt := compose.UpOptions{
				Services: c.Args().Slice(), NoDeps: c.Bool("no-deps"), ForceRecreate: c.Bool("force-recreate"), NoRecreate: c.Bool("no-recreate"),
				RemoveOrphans: c.Bool("remove-orphans"), Scale: scale, NoStart: c.Bool("no-start"), Base: base, Subnet: cfg.Network.Subnet,
				Image: composeImage(c, s, cfg, base, c.Bool("build"), c.Bool("no-build")), Report: composeReport(),
			}
			opt.Wait, opt.WaitTimeout = c.Bool("wait"), time.Duration(max(c.Int("wait-timeout"), 0))*time.Second
			if err := compose.Up(s, p, opt); err != nil {
				if opt.Wait {
					composeFailedTails(s, p)
				}
				return tugFailed(err)
			}
			if c.Bool("detach") || c.Bool("wait") || opt.NoStart {
				return nil
			}
			return composeAttached(c, s, p, c.Bool("abort-on-container-exit"))
		},
	}
}

func composeDownCommand() *cli.Command {
	return &cli.Command{
		Name:  "down",
		Usage: "stop and remove the project's containers and networks (and with -v its volumes)",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "volumes", Aliases: []string{"v"}, Usage: "remove the named volumes of the files and the containers' anonymous ones"},
			&cli.BoolFlag{Name: "remove-orphans", Usage: "remove containers of services the files no longer have"},
			&cli.IntFlag{Name: "timeout", Aliases: []string{"t"}, Value: -1, Usage: "seconds to wait for each container to stop (default: its stop_grace_period, else 10)"},
			&cli.StringFlag{Name: "rmi", Usage: "remove images too: local (those without a custom tag) or all"},
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 0, 0); err != nil {
				return err
			}
			s, cfg, p, err := composeLoad(c)
			if err != nil {
				return err
			}
			rmi := c.String("rmi")
			if rmi != "" && rmi != "local" && rmi != "all" {
				return usage(fmt.Errorf("--rmi %q: want local or all", rmi))
			}
			err = compose.Down(s, p, compose.DownOptions{Volumes: c.Bool("volumes"), RemoveOrphans: c.Bool("remove-orphans"),
				Timeout: stopWait(c), Subnet: cfg.Network.Subnet, Report: composeReport()})
			if err == nil && rmi != "" {
				err = compose.RemoveImages(s, p, rmi == "all", composeReport())
			}
			return tugFailed(err)
		},
	}
}

// composeFailedTails prints the last lines of each of the project's
// containers that is not running or is unhealthy: why up --wait failed.
func composeFailedTails(s *store.Store, p *plan.Project) {
	ctrs, err := compose.Containers(s, p.Name, false)
	if err != nil {
		return
	}
	for _, ctr := range ctrs {
		st, err := run.State(s, ctr)
		if err != nil || st.Status == store.StatusRunning && (st.Health == nil || st.Health.Status != store.HealthUnhealthy) {
			continue
		}
		what := st.Status
		if what == store.StatusRunning {
			what = store.HealthUnhealthy
		}
		fmt.Fprintf(os.Stderr, "tug: %s is %s; its last lines:\n", ctr.Name, what)
		run.Logs(s, ctr, run.LogOptions{Tail: 10}, os.Stderr, os.Stderr)
	}
}
