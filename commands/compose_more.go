package commands

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"tug/compose"
	"tug/compose/plan"
	"tug/pull"
	"tug/run"
	"tug/store"
)

func composeRunCommand() *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "run a one-off command in a new container of a service",
		ArgsUsage: "SERVICE [COMMAND [ARG...]]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "run it in the background, print its ID"},
			&cli.BoolFlag{Name: "rm", Usage: "remove the container when it exits"},
			&cli.StringFlag{Name: "name", Usage: "the container's name (default PROJECT-SERVICE-run-ID)"},
			&cli.StringFlag{Name: "entrypoint", Usage: "override the entrypoint"},
			&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}, Usage: "set K=V"},
			&cli.StringSliceFlag{Name: "label", Aliases: []string{"l"}, Usage: "add K=V"},
			&cli.StringSliceFlag{Name: "volume", Aliases: []string{"v"}, Usage: "bind or volume, as run -v"},
			&cli.StringSliceFlag{Name: "publish", Aliases: []string{"p"}, Usage: "publish a port, as run -p"},
			&cli.BoolFlag{Name: "service-ports", Usage: "publish the service's ports"},
			&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "USER[:GROUP]"},
			&cli.StringFlag{Name: "workdir", Aliases: []string{"w"}, Usage: "working directory"},
			&cli.BoolFlag{Name: "no-TTY", Aliases: []string{"T"}, Usage: "no pseudo-terminal (the default: one when stdin is a terminal)"},
			&cli.BoolFlag{Name: "no-deps", Usage: "do not start the services it depends on"},
			&cli.BoolFlag{Name: "build", Usage: "build the image first"},
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, -1); err != nil {
				return err
			}
			s, cfg, p, err := composeLoad(c)
			if err != nil {
				return err
			}
			base := configBase(c, cfg)
			up := compose.UpOptions{Base: base, Subnet: cfg.Network.Subnet, Image: composeImage(c, s, cfg, base, c.Bool("build"), false), Report: composeReport()}
			opt := compose.RunOptions{Service: c.Args().First(), Cmd: c.Args().Tail(), Env: c.StringSlice("env"), Labels: c.StringSlice("label"),
				Volumes: c.StringSlice("volume"), User: c.String("user"), Workdir: c.String("workdir"), Name: c.String("name"),
				Publish: c.StringSlice("publish"), ServicePorts: c.Bool("service-ports"), Remove: c.Bool("rm"), NoDeps: c.Bool("no-deps"),
				Interactive: !c.Bool("detach"), Tty: composeTty(c)}
			if c.IsSet("entrypoint") {
				opt.EntrypointSet, opt.Entrypoint = true, strings.Fields(c.String("entrypoint"))
			}
			ctr, err := compose.CreateOneOff(s, p, opt, up)
			if err != nil {
				return tugFailed(err)
			}
			if c.Bool("detach") {
				if err := run.StartDetached(s, ctr); err != nil {
					return err
				}
				fmt.Println(ctr.ID)
				return nil
			}
			return foreground(c, s, ctr, true)
		},
	}
}

// composeImages runs fn on the image of each service named (all with
// none).
func composeImages(c *cli.Context, fn func(s *store.Store, svc plan.Service) error) error {
	s, _, p, err := composeLoad(c)
	if err != nil {
		return err
	}
	for _, name := range c.Args().Slice() {
		if _, ok := compose.Service(p, name); !ok {
			return usage(fmt.Errorf("no such service: %s", name))
		}
	}
	for _, svc := range p.Services {
		if c.Args().Len() == 0 || slices.Contains(c.Args().Slice(), svc.Name) {
			if err := fn(s, svc); err != nil {
				return tugFailed(fmt.Errorf("service %s: %w", svc.Name, err))
			}
		}
	}
	return nil
}

func composeBuildCommand() *cli.Command {
	return &cli.Command{
		Name: "build", Usage: "build the images of the services that have a build section", ArgsUsage: "[SERVICE...]",
		Action: func(c *cli.Context) error {
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			base := configBase(c, cfg)
			return composeImages(c, func(s *store.Store, svc plan.Service) error {
				if svc.Build == nil {
					return nil
				}
				_, err := composeBuild(c, s, registries(cfg), svc, base)
				return err
			})
		},
	}
}

func composePullCommand() *cli.Command {
	return &cli.Command{
		Name: "pull", Usage: "pull the services' images", ArgsUsage: "[SERVICE...]",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "ignore-buildable", Usage: "pass over the services that have a build section"}},
		Action: func(c *cli.Context) error {
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			return composeImages(c, func(s *store.Store, svc plan.Service) error {
				if svc.Build != nil && (c.Bool("ignore-buildable") || !svc.ImageSet) {
					return nil
				}
				_, err := kubeImage(c, s, registries(cfg), svc.Image, string(pull.PullAlways))
				return err
			})
		},
	}
}

func composePushCommand() *cli.Command {
	return &cli.Command{
		Name: "push", Usage: "push the images of the services that have a build section", ArgsUsage: "[SERVICE...]",
		Action: func(c *cli.Context) error {
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			return composeImages(c, func(s *store.Store, svc plan.Service) error {
				if svc.Build == nil {
					return nil
				}
				regs, err := registriesFor(c, cfg, svc.Image)
				if err != nil {
					return err
				}
				_, err = pull.Push(c.Context, s, svc.Image, "", regs, false)
				return err
			})
		},
	}
}

func composeImagesCommand() *cli.Command {
	return &cli.Command{
		Name: "images", Usage: "list the images the project's containers run", ArgsUsage: "[SERVICE...]",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only show IDs"}},
		Action: func(c *cli.Context) error {
			_, _, ctrs, err := composeServices(c)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(os.Stdout, 0, 4, 3, ' ', 0)
			if !c.Bool("quiet") {
				fmt.Fprintln(tw, "CONTAINER\tREPOSITORY\tTAG\tIMAGE ID")
			}
			for _, ctr := range ctrs {
				repo, tag := ctr.ImageName, "latest"
				if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
					repo, tag = repo[:i], repo[i+1:]
				}
				if c.Bool("quiet") {
					fmt.Println(ctr.Image.Hex[:12])
					continue
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", ctr.Name, repo, tag, ctr.Image.Hex[:12])
			}
			return tw.Flush()
		},
	}
}

func composeTopCommand() *cli.Command {
	return &cli.Command{
		Name: "top", Usage: "list the processes of the project's containers", ArgsUsage: "[SERVICE...]",
		Action: func(c *cli.Context) error {
			s, _, ctrs, err := composeServices(c)
			if err != nil {
				return err
			}
			for _, ctr := range ctrs {
				procs, err := run.Top(s, ctr)
				if err != nil {
					continue // not running: docker compose shows none
				}
				fmt.Println(ctr.Name)
				tw := tabwriter.NewWriter(os.Stdout, 0, 4, 3, ' ', 0)
				fmt.Fprintln(tw, "UID\tPID\tPPID\tCMD")
				for _, p := range procs {
					fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", p.UID, p.PID, p.PPID, p.Cmd)
				}
				tw.Flush()
				fmt.Println()
			}
			return nil
		},
	}
}

func composePortCommand() *cli.Command {
	return &cli.Command{
		Name: "port", Usage: "print the host address a service's container port is published on", ArgsUsage: "SERVICE PRIVATE_PORT",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "protocol", Value: "tcp", Usage: "tcp or udp"},
			&cli.IntFlag{Name: "index", Value: 1, Usage: "which container of the service, from 1"},
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 2, 2); err != nil {
				return err
			}
			s, _, p, err := composeLoad(c)
			if err != nil {
				return err
			}
			ctr, err := compose.Numbered(s, p, c.Args().First(), c.Int("index"))
			if err != nil {
				return err
			}
			ports, err := run.Ports(s, ctr)
			if err != nil {
				return err
			}
			want := c.Args().Get(1) + "/" + c.String("protocol")
			for _, line := range ports {
				if port, addr, ok := strings.Cut(line, " -> "); ok && port == want {
					fmt.Println(addr)
					return nil
				}
			}
			return coded{fmt.Errorf("no port %s of service %s is published", want, c.Args().First()), 1}
		},
	}
}

func composeEventsCommand() *cli.Command {
	return &cli.Command{
		Name: "events", Usage: "follow what happens to the project's containers", ArgsUsage: "[SERVICE...]",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "one JSON object a line"}},
		Action: func(c *cli.Context) error {
			s, _, p, err := composeLoad(c)
			if err != nil {
				return err
			}
			services := c.Args().Slice()
			for _, name := range services {
				if _, ok := compose.Service(p, name); !ok {
					return usage(fmt.Errorf("no such service: %s", name))
				}
			}
			format := ""
			if c.Bool("json") {
				format = "json"
			}
			print, err := eventPrinter(format)
			if err != nil {
				return err
			}
			return s.ReadEvents(store.EventOptions{Follow: true, Since: time.Now(), Stop: stopOnSignal()}, func(e store.Event) error {
				attrs := e.Actor.Attributes
				if e.Type != "container" || attrs[compose.LabelProject] != p.Name ||
					len(services) > 0 && !slices.Contains(services, attrs[compose.LabelService]) {
					return nil
				}
				return print(e)
			})
		},
	}
}
