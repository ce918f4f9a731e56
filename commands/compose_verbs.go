package commands

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"tug/compose"
	"tug/compose/plan"
	"tug/run"
	"tug/store"
)

// composeServices are the project's containers of the services named
// as arguments (all with none).
func composeServices(c *cli.Context) (*store.Store, *plan.Project, []*store.Container, error) {
	s, _, p, err := composeLoad(c)
	if err != nil {
		return nil, nil, nil, err
	}
	ctrs, err := compose.Select(s, p, c.Args().Slice())
	if err != nil {
		return nil, nil, nil, usage(err)
	}
	return s, p, ctrs, nil
}

func composePsCommand() *cli.Command {
	return &cli.Command{
		Name:      "ps",
		Usage:     "list the project's containers",
		ArgsUsage: "[SERVICE...]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "stopped containers too"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only show IDs"},
			&cli.BoolFlag{Name: "services", Usage: "only show the services' names"},
			&cli.StringFlag{Name: "format", Usage: "Go template, 'table TEMPLATE' or 'json'"},
			noHeadingFlag(),
		},
		Action: func(c *cli.Context) error {
			s, p, ctrs, err := composeServices(c)
			if err != nil {
				return err
			}
			names := map[string]bool{}
			for _, ctr := range ctrs {
				names[ctr.Name] = true
			}
			filters, err := run.ParseFilters([]string{"label=" + compose.LabelProject + "=" + p.Name})
			if err != nil {
				return err
			}
			rows, bad, err := run.Ps(s, run.PsOptions{All: c.Bool("all"), Last: -1, Filters: filters})
			if err != nil {
				return err
			}
			warnBad(bad)
			rows = slices.DeleteFunc(rows, func(r run.PsRow) bool { return !names[r.Names] })
			if c.Bool("services") {
				for _, svc := range p.Services {
					if slices.ContainsFunc(rows, func(r run.PsRow) bool { return r.Label(compose.LabelService) == svc.Name }) {
						fmt.Println(svc.Name)
					}
				}
				return nil
			}
			out := make([]composeRow, len(rows))
			for i, r := range rows {
				out[i] = composeRow{ID: r.ID, Name: r.Names, Image: r.Image, Command: r.Command, Project: p.Name, Service: r.Label(compose.LabelService),
					CreatedAt: r.CreatedAt, RunningFor: r.RunningFor, State: r.State, Status: r.Status, Ports: r.Ports, Labels: r.Labels}
			}
			l := listing{format: c.String("format"),
				table: "table {{.Name}}\t{{.Image}}\t{{.Command}}\t{{.Service}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}",
				headers: map[string]string{"ID": "CONTAINER ID", "Name": "NAME", "Image": "IMAGE", "Command": "COMMAND", "Project": "PROJECT", "Service": "SERVICE",
					"CreatedAt": "CREATED AT", "RunningFor": "CREATED", "State": "STATE", "Status": "STATUS", "Ports": "PORTS", "Labels": "LABELS"}}
			return printRows(c, l, out, func(r composeRow) string { return r.ID }, false)
		},
	}
}

// composeRow is a line of compose ps, docker compose's fields.
type composeRow struct {
	ID, Name, Image, Command, Project, Service, CreatedAt, RunningFor, State, Status, Ports, Labels string
}

func composeLogsCommand() *cli.Command {
	return &cli.Command{
		Name:      "logs",
		Usage:     "show the output of the project's containers, each line after its container's name",
		ArgsUsage: "[SERVICE...]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep streaming new output"},
			&cli.StringFlag{Name: "tail", Aliases: []string{"n"}, Value: "all", Usage: "lines from the end of each, or all"},
			&cli.BoolFlag{Name: "timestamps", Aliases: []string{"t"}, Usage: "show timestamps"},
			&cli.StringFlag{Name: "since", Usage: "only lines since a time"},
			&cli.StringFlag{Name: "until", Usage: "only lines before a time"},
			&cli.BoolFlag{Name: "no-log-prefix", Usage: "no container name before each line"},
			&cli.BoolFlag{Name: "no-color", Usage: "no colours"},
		},
		Action: func(c *cli.Context) error {
			opt, err := logOptions(c)
			if err != nil {
				return usage(err)
			}
			s, _, ctrs, err := composeServices(c)
			if err != nil {
				return err
			}
			return prefixedLogs(s, ctrs, opt, composePrefix(ctrs, c.Bool("no-log-prefix"), c.Bool("no-color") || !isTerminal(os.Stdout)))
		},
	}
}

// composePrefix is docker compose's line prefix: the container's name,
// padded to the longest, and " | ", coloured per container on a
// terminal.
func composePrefix(ctrs []*store.Container, none, plain bool) func(*store.Container) string {
	width := 0
	for _, c := range ctrs {
		width = max(width, len(c.Name))
	}
	colours := []string{"36", "33", "32", "35", "34", "31"}
	return func(c *store.Container) string {
		if none {
			return ""
		}
		p := fmt.Sprintf("%-*s | ", width, c.Name)
		if plain {
			return p
		}
		i := slices.Index(ctrs, c)
		return "\x1b[" + colours[max(i, 0)%len(colours)] + "m" + p + "\x1b[0m"
	}
}

// composeAttached is up without -d: it follows the containers' output
// until they all stop; ctrl-c (or with abort, one container's exit)
// stops them all.
func composeAttached(c *cli.Context, s *store.Store, p *plan.Project, abort bool) error {
	ctrs, err := compose.Select(s, p, c.Args().Slice())
	if err != nil {
		return err
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM)
	defer signal.Stop(sigs)
	logged := make(chan error, 1)
	go func() {
		logged <- prefixedLogs(s, ctrs, run.LogOptions{Follow: true, Tail: -1}, composePrefix(ctrs, false, !isTerminal(os.Stdout)))
	}()
	ended := make(chan int, len(ctrs))
	if abort {
		for _, ctr := range ctrs {
			go func() {
				code, _ := run.Wait(s, ctr)
				ended <- code
			}()
		}
	}
	code := 0
	select {
	case err := <-logged:
		return err
	case <-sigs:
		fmt.Fprintln(os.Stderr, "Gracefully stopping... (press Ctrl+C again to force)")
	case code = <-ended:
		fmt.Fprintln(os.Stderr, "Aborting on container exit...")
	}
	stopped := make(chan error, 1)
	go func() { stopped <- compose.Stop(s, ctrs, -1) }()
	select {
	case err = <-stopped:
	case <-sigs:
		err = compose.Each(ctrs, func(ctr *store.Container) error { return ignoreNotRunning(run.Signal(s, ctr, unix.SIGKILL)) })
	}
	if err == nil && code != 0 { // the exit code of the container that ended it, as docker compose's
		return exitStatus(code)
	}
	return err
}

// ignoreNotRunning is err, unless it says the container was not running.
func ignoreNotRunning(err error) error {
	if errors.Is(err, run.ErrNotRunning) {
		return nil
	}
	return err
}

// composeVerb is a compose verb on the containers of the named
// services, all at once.
func composeVerb(name, usageText string, flags []cli.Flag, verb func(c *cli.Context, s *store.Store, ctr *store.Container) error) *cli.Command {
	return &cli.Command{
		Name: name, Usage: usageText, ArgsUsage: "[SERVICE...]", Flags: flags,
		Action: func(c *cli.Context) error {
			s, _, ctrs, err := composeServices(c)
			if err != nil {
				return err
			}
			return tugFailed(compose.Each(ctrs, func(ctr *store.Container) error { return verb(c, s, ctr) }))
		},
	}
}

func timeoutFlag() cli.Flag {
	return &cli.IntFlag{Name: "timeout", Aliases: []string{"t"}, Value: -1, Usage: "seconds to wait for each to stop (default: its stop_grace_period, else 10)"}
}

// stopWait is --timeout as a duration; negative: each container's own.
func stopWait(c *cli.Context) time.Duration {
	if c.Int("timeout") < 0 {
		return -1
	}
	return time.Duration(c.Int("timeout")) * time.Second
}

func composeVerbs() []*cli.Command {
	return []*cli.Command{
		composeVerb("stop", "stop the services' containers", []cli.Flag{timeoutFlag()}, func(c *cli.Context, s *store.Store, ctr *store.Container) error {
			return compose.Stop(s, []*store.Container{ctr}, stopWait(c))
		}),
		composeVerb("restart", "restart the services' containers", []cli.Flag{timeoutFlag()}, func(c *cli.Context, s *store.Store, ctr *store.Container) error {
			if err := compose.Stop(s, []*store.Container{ctr}, stopWait(c)); err != nil {
				return err
			}
			return run.StartDetached(s, ctr)
		}),
		composeVerb("kill", "send a signal to the services' containers", []cli.Flag{
			&cli.StringFlag{Name: "signal", Aliases: []string{"s"}, Value: "SIGKILL", Usage: "the signal"},
		}, func(c *cli.Context, s *store.Store, ctr *store.Container) error {
			sig, err := run.ParseSignal(c.String("signal"))
			if err != nil {
				return usage(err)
			}
			return ignoreNotRunning(run.Signal(s, ctr, sig))
		}),
		composeVerb("pause", "freeze the services' containers", nil, func(_ *cli.Context, s *store.Store, ctr *store.Container) error { return run.Pause(s, ctr) }),
		composeVerb("unpause", "thaw the services' containers", nil, func(_ *cli.Context, s *store.Store, ctr *store.Container) error { return run.Unpause(s, ctr) }),
		composeVerb("rm", "remove the services' stopped containers", []cli.Flag{
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "do not ask (tug never asks)"},
			&cli.BoolFlag{Name: "stop", Aliases: []string{"s"}, Usage: "stop running containers first"},
			&cli.BoolFlag{Name: "volumes", Aliases: []string{"v"}, Usage: "remove their anonymous volumes too"},
		}, func(c *cli.Context, s *store.Store, ctr *store.Container) error {
			st, err := run.State(s, ctr)
			if err != nil || st.Status == store.StatusRunning && !c.Bool("stop") {
				return err // docker compose rm passes over running containers
			}
			return run.RemoveRef(s, ctr.ID, run.RemoveOptions{Force: c.Bool("stop"), Volumes: c.Bool("volumes"), Timeout: 10 * time.Second})
		}),
	}
}

func composeStartCommand() *cli.Command {
	return &cli.Command{
		Name: "start", Usage: "start the services' existing containers, in dependency order", ArgsUsage: "[SERVICE...]",
		Action: func(c *cli.Context) error {
			s, _, ctrs, err := composeServices(c)
			if err != nil {
				return err
			}
			for _, ctr := range ctrs {
				if st, err := run.State(s, ctr); err != nil || st.Status == store.StatusRunning {
					continue
				}
				if err := run.StartDetached(s, ctr); err != nil {
					return tugFailed(fmt.Errorf("start %s: %w", ctr.Name, err))
				}
			}
			return nil
		},
	}
}

func composeExecCommand() *cli.Command {
	return &cli.Command{
		Name:      "exec",
		Usage:     "run a command in a service's running container",
		ArgsUsage: "SERVICE COMMAND [ARG...]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "no-TTY", Aliases: []string{"T"}, Usage: "no pseudo-terminal (the default: one when stdin is a terminal)"},
			&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "run the command in the background"},
			&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}, Usage: "set K=V"},
			&cli.StringFlag{Name: "workdir", Aliases: []string{"w"}, Usage: "working directory in the container"},
			&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "USER[:GROUP] or UID[:GID]"},
			&cli.IntFlag{Name: "index", Value: 1, Usage: "which container of the service, from 1"},
			&cli.BoolFlag{Name: "privileged", Usage: "give the command every capability and no seccomp filter"},
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 2, -1); err != nil {
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
			tty := composeTty(c)
			opt := run.ExecOptions{Args: c.Args().Tail(), Env: c.StringSlice("env"), Workdir: c.String("workdir"), User: c.String("user"),
				Tty: tty, Interactive: !c.Bool("detach"), Detach: c.Bool("detach"), Privileged: c.Bool("privileged")}
			return exited(run.Exec(s, ctr, opt, run.IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}))
		},
	}
}

// composeTty is docker compose's choice for exec and run: a terminal
// when stdin is one, unless -T or -d.
func composeTty(c *cli.Context) bool {
	return !c.Bool("no-TTY") && !c.Bool("detach") && isTerminal(os.Stdin)
}
