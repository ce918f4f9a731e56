package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"tug/build"
	"tug/config"
	"tug/kube"
	"tug/kube/plan"
	"tug/pull"
	"tug/run"
	"tug/store"
)

func kubeCommand() *cli.Command {
	return &cli.Command{
		Name:        "kube",
		Usage:       "run Kubernetes YAML here, and write it from pods and containers",
		Subcommands: []*cli.Command{kubePlayCommand(), kubeDownCommand(), kubeGenerateCommand()},
	}
}

// readSource reads a YAML file, or stdin for "-".
func readSource(path string) (plan.Source, error) {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(os.Stdin)
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return plan.Source{}, usage(fmt.Errorf("kube: %w", err))
	}
	return plan.Source{Name: path, Data: b}, nil
}

// kubePlan is the plan of the command's YAML file and --configmap
// files, with the store it is for and the config.
func kubePlan(c *cli.Context) (*store.Store, config.Config, *plan.Plan, error) {
	var cfg config.Config
	if err := needArgs(c, 1, 1); err != nil {
		return nil, cfg, nil, err
	}
	yaml, err := readSource(c.Args().First())
	if err != nil {
		return nil, cfg, nil, err
	}
	var cms []plan.Source
	for _, f := range c.StringSlice("configmap") {
		src, err := readSource(f)
		if err != nil {
			return nil, cfg, nil, err
		}
		cms = append(cms, src)
	}
	p, err := kube.Plan([]plan.Source{yaml}, cms, c.Command.Name == "down")
	if err != nil {
		return nil, cfg, nil, coded{err, 125}
	}
	for _, w := range p.Warnings {
		if c.Command.Name == "play" { // down carries out nothing to warn of
			fmt.Fprintln(os.Stderr, "tug: warning: "+w)
		}
	}
	s, cfg, err := openStore(c)
	return s, cfg, p, err
}

func kubePlayCommand() *cli.Command {
	return &cli.Command{
		Name:      "play",
		Usage:     "make and start the pods of Kubernetes YAML: Pod, Deployment, DaemonSet, Job, with ConfigMap, Secret and PersistentVolumeClaim",
		ArgsUsage: "FILE|-",
		Before:    inUserNS,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "replace", Usage: "remove the pods of the same names first"},
			&cli.StringFlag{Name: "network", Usage: "the pods' network (default bridge; hostNetwork pods: host)"},
			&cli.StringSliceFlag{Name: "configmap", Usage: "a YAML file of ConfigMaps the pods may name"},
			&cli.BoolFlag{Name: "start", Value: true, Usage: "start the pods (--start=false: only make them)"},
			&cli.BoolFlag{Name: "build", Usage: "build an image from ./IMAGE/Containerfile (or Dockerfile) where one is there"},
		},
		Action: func(c *cli.Context) error {
			s, cfg, p, err := kubePlan(c)
			if err != nil {
				return err
			}
			base := configBase(c, cfg)
			regs := registries(cfg)
			opt := kube.Options{Replace: c.Bool("replace"), Network: c.String("network"), Start: c.Bool("start"), Base: base,
				Image: func(ref, policy string) (*store.Image, error) {
					if c.Bool("build") {
						if img, built, err := buildForKube(c, s, ref, base, regs); built || err != nil {
							return img, err
						}
					}
					return kubeImage(c, s, regs, ref, policy)
				},
			}
			played, err := kube.Play(s, p, opt)
			for _, pl := range played {
				fmt.Printf("Pod:\n%s\nContainers:\n", pl.Pod.ID)
				for _, ctr := range pl.Containers {
					fmt.Println(ctr.ID)
				}
			}
			return tugFailed(err)
		},
	}
}

// kubeImage is ref under a container's pull policy, pulled as run
// pulls.
func kubeImage(c *cli.Context, s *store.Store, regs pull.Registries, ref, policy string) (*store.Image, error) {
	p, err := pull.ParsePolicy(policy)
	if err != nil {
		return nil, err
	}
	img, needed, err := p.Needed(s, ref)
	if err != nil || !needed {
		return img, err
	}
	prog := newProgress(os.Stderr, !isTerminal(os.Stderr), "Pull complete")
	img, err = pull.Pull(c.Context, s, ref, pull.Options{Registries: regs, Reporter: prog.reporter()})
	prog.wait()
	return img, err
}

// buildForKube builds ref from ./NAME/Containerfile (or Dockerfile),
// NAME being the image's name without registry or tag, as podman's kube
// play --build does; built is false when there is no such directory.
func buildForKube(c *cli.Context, s *store.Store, ref string, base run.Options, regs pull.Registries) (*store.Image, bool, error) {
	dir, file, ok := kube.BuildContext(ref)
	if !ok {
		return nil, false, nil
	}
	tag, err := store.NormalizeName(ref)
	if err != nil {
		return nil, true, err
	}
	img, err := build.Build(c.Context, s, build.Options{
		Context: dir, Dockerfile: filepath.Join(dir, file), Name: file, Tags: []string{tag}, Out: os.Stderr, Run: base,
		Base: func(ctx context.Context, from string) (*store.Image, error) {
			return kubeImage(c, s, regs, from, string(pull.PullMissing))
		},
	})
	return img, true, err
}

func kubeDownCommand() *cli.Command {
	return &cli.Command{
		Name:      "down",
		Usage:     "remove the pods of Kubernetes YAML that kube play made, with their containers",
		ArgsUsage: "FILE|-",
		Before:    inUserNS,
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "time", Aliases: []string{"t"}, Value: 10, Usage: "seconds to wait for each container to stop before SIGKILL"},
			&cli.BoolFlag{Name: "force", Usage: "remove the volumes of PersistentVolumeClaims too"},
		},
		Action: func(c *cli.Context) error {
			s, _, p, err := kubePlan(c)
			if err != nil {
				return err
			}
			removed, err := kube.Down(s, p, time.Duration(c.Int("time"))*time.Second, c.Bool("force"))
			if len(removed) > 0 {
				fmt.Println("Pods removed:")
			}
			for _, pd := range removed {
				fmt.Println(pd.ID)
			}
			return err
		},
	}
}

func kubeGenerateCommand() *cli.Command {
	return &cli.Command{
		Name:      "generate",
		Usage:     "write Kubernetes YAML of pods and containers",
		ArgsUsage: "POD|CONTAINER [POD|CONTAINER...]",
		Before:    inUserNS,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "service", Aliases: []string{"s"}, Usage: "add a NodePort Service for the published ports"},
			&cli.StringFlag{Name: "type", Value: "pod", Usage: "pod or deployment"},
			&cli.StringFlag{Name: "filename", Aliases: []string{"f"}, Usage: "write the YAML to this file"},
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, -1); err != nil {
				return err
			}
			if t := c.String("type"); t != "pod" && t != "deployment" {
				return usage(fmt.Errorf("kube generate --type %q: want pod or deployment", t))
			}
			s, _, err := openStore(c)
			if err != nil {
				return err
			}
			y, err := kube.Generate(s, c.Args().Slice(), c.String("type"), c.Bool("service"))
			if err != nil {
				if errors.Is(err, store.ErrNotFound) {
					return err
				}
				return coded{err, 125}
			}
			if f := c.String("filename"); f != "" {
				return os.WriteFile(f, y, 0o644)
			}
			_, err = os.Stdout.Write(y)
			return err
		},
	}
}
