package commands

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"

	"tug/internal/human"
	"tug/run"
	"tug/store"
)

// eachContainer runs fn on every container named, going on after a
// failure; the errors come back together.
func eachContainer(s *store.Store, refs []string, fn func(ref string, c *store.Container) error) error {
	var errs []error
	for _, ref := range refs {
		c, err := s.LookupContainer(ref)
		if err == nil {
			err = fn(ref, c)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// forEachContainer is the action of a verb on CONTAINER [CONTAINER...]:
// fn runs on each, and the line it returns is printed when it succeeds.
func forEachContainer(fn func(c *cli.Context, s *store.Store, ref string, ctr *store.Container) (string, error)) cli.ActionFunc {
	return func(c *cli.Context) error {
		s, refs, err := targets(c)
		if err != nil {
			return err
		}
		selected := c.Bool("all") || len(c.StringSlice("filter")) > 0
		return ignoreMissing(c, eachContainer(s, refs, func(ref string, ctr *store.Container) error {
			line, err := fn(c, s, ref, ctr)
			if selected && errors.Is(err, run.ErrNotRunning) {
				return nil // selected as running, it exited since: nothing to do
			}
			if err == nil {
				fmt.Println(line)
			}
			return err
		}))
	}
}

// selectFlags are podman's ways to name containers besides by name:
// -a/--all (--all alone where -a means something else) and --filter.
func selectFlags(shortAll bool, filter bool) []cli.Flag {
	all := &cli.BoolFlag{Name: "all", Usage: "every container the verb applies to"}
	if shortAll {
		all.Aliases = []string{"a"}
	}
	flags := []cli.Flag{all}
	if filter {
		flags = append(flags, &cli.StringSliceFlag{Name: "filter", Usage: "the containers that match, as ps --filter"})
	}
	return flags
}

// targets opens the store and returns the containers a verb acts on: its
// arguments, or with --all every container (running ones for stop and
// kill, stopped ones for start), or with --filter those that match.
func targets(c *cli.Context) (*store.Store, []string, error) {
	all, filter := c.Bool("all"), c.StringSlice("filter")
	if c.Bool("at-boot") { // start's
		return bootTargets(c, all || len(filter) > 0)
	}
	if !all && len(filter) == 0 {
		if err := needArgs(c, 1, -1); err != nil {
			return nil, nil, err
		}
	} else if err := needArgs(c, 0, 0); err != nil {
		return nil, nil, err
	}
	s, _, err := openStore(c)
	if err != nil || (!all && len(filter) == 0) {
		return s, c.Args().Slice(), err
	}
	filters, err := run.ParseFilters(filter)
	if err != nil {
		return nil, nil, err
	}
	refs, err := run.Select(s, c.Command.Name, filters)
	return s, refs, err
}

// bootTargets are the containers of start --at-boot.
func bootTargets(c *cli.Context, selected bool) (*store.Store, []string, error) {
	if selected {
		return nil, nil, usage(errors.New("--at-boot picks the containers itself: it takes no --all or --filter"))
	}
	if err := needArgs(c, 0, 0); err != nil {
		return nil, nil, err
	}
	s, _, err := openStore(c)
	if err != nil {
		return nil, nil, err
	}
	refs, err := run.BootTargets(s)
	return s, refs, err
}

// ignoreMissing drops the errors for containers that do not exist, with
// -i/--ignore.
func ignoreMissing(c *cli.Context, err error) error {
	if err == nil || !c.Bool("ignore") {
		return err
	}
	var kept []error
	for _, e := range unjoin(err) {
		if !errors.Is(e, store.ErrNotFound) {
			kept = append(kept, e)
		}
	}
	return errors.Join(kept...)
}

// unjoin lists the errors errors.Join put together.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// ignoreFlag is podman's -i/--ignore.
func ignoreFlag() cli.Flag {
	return &cli.BoolFlag{Name: "ignore", Aliases: []string{"i"}, Usage: "say nothing of containers that do not exist"}
}

// timeFlags are stop's -t/--time, with docker's --timeout beside it.
func timeFlags() []cli.Flag {
	return []cli.Flag{&cli.IntFlag{Name: "time", Aliases: []string{"t", "timeout"}, Value: 10, Usage: "seconds to wait before SIGKILL (default: the container's --stop-timeout, else 10)"}}
}

// stopTime is -t's wait, or -1 for the container's own (--stop-timeout).
func stopTime(c *cli.Context) time.Duration {
	if !c.IsSet("time") {
		return -1
	}
	return time.Duration(c.Int("time")) * time.Second
}

// containerVerb is a verb that acts on each named container and prints
// its name, as docker's stop, kill and rm do.
func containerVerb(name, usage string, flags []cli.Flag, fn func(c *cli.Context, s *store.Store, ctr *store.Container) error) *cli.Command {
	return &cli.Command{
		Name:      name,
		Usage:     usage,
		ArgsUsage: "CONTAINER [CONTAINER...]",
		Flags:     flags,
		Action: forEachContainer(func(c *cli.Context, s *store.Store, ref string, ctr *store.Container) (string, error) {
			return ref, fn(c, s, ctr)
		}),
	}
}

func stopCommand() *cli.Command {
	return containerVerb("stop", "stop containers: the stop signal, then SIGKILL after the timeout",
		append(append(timeFlags(), selectFlags(true, false)...), ignoreFlag()),
		func(c *cli.Context, s *store.Store, ctr *store.Container) error {
			return run.Stop(s, ctr, stopTime(c))
		})
}

func killCommand() *cli.Command {
	return containerVerb("kill", "send a signal to containers (SIGKILL by default)",
		append([]cli.Flag{&cli.StringFlag{Name: "signal", Aliases: []string{"s"}, Value: "KILL", Usage: "signal name or number"}}, selectFlags(true, false)...),
		func(c *cli.Context, s *store.Store, ctr *store.Container) error {
			sig, err := run.ParseSignal(c.String("signal"))
			if err != nil {
				return err
			}
			return run.Signal(s, ctr, sig)
		})
}

func rmCommand() *cli.Command {
	return &cli.Command{
		Name:      "rm",
		Usage:     "remove containers",
		ArgsUsage: "CONTAINER [CONTAINER...]",
		Flags: append([]cli.Flag{
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "stop a running container first; remove one whose record is corrupt"},
			&cli.BoolFlag{Name: "volumes", Aliases: []string{"v"}, Usage: "remove its anonymous volumes too"},
			&cli.IntFlag{Name: "time", Aliases: []string{"t"}, Usage: "with -f, seconds to wait before SIGKILL"},
			&cli.BoolFlag{Name: "depend", Usage: "first remove the containers that share its network"},
			ignoreFlag(),
		}, selectFlags(true, false)...),
		Before: func(c *cli.Context) error {
			return stopOutside(c, c.Bool("force"), time.Duration(c.Int("time"))*time.Second)
		},
		Action: func(c *cli.Context) error {
			s, refs, err := targets(c)
			if err != nil {
				return err
			}
			opt := run.RemoveOptions{Force: c.Bool("force"), Timeout: time.Duration(c.Int("time")) * time.Second, Depend: c.Bool("depend"), Volumes: c.Bool("volumes")}
			var errs []error
			for _, ref := range refs {
				if err := run.RemoveRef(s, ref, opt); err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Println(ref)
			}
			return ignoreMissing(c, errors.Join(errs...))
		},
	}
}

// warnBad tells, once, of each container record that cannot be read.
func warnBad(bad []*store.BadRecord) {
	for _, b := range bad {
		fmt.Fprintf(os.Stderr, "tug: warning: %s\n", b)
	}
}

func pauseCommand() *cli.Command {
	cmd := containerVerb("pause", "freeze every process of containers",
		selectFlags(true, false), func(_ *cli.Context, s *store.Store, ctr *store.Container) error { return run.Pause(s, ctr) })
	cmd.Before = inUserNS
	return cmd
}

func unpauseCommand() *cli.Command {
	cmd := containerVerb("unpause", "thaw paused containers",
		selectFlags(true, false), func(_ *cli.Context, s *store.Store, ctr *store.Container) error { return run.Unpause(s, ctr) })
	cmd.Before = inUserNS
	return cmd
}

// mountCommand is podman's mount: print where each container's root
// filesystem is on the host, mounting it there; with no container, list
// the containers that are mounted.
func mountCommand() *cli.Command {
	cmd := containerVerb("mount", "put containers' root filesystems on the host and print where (root only)", selectFlags(true, false),
		nil)
	cmd.ArgsUsage = "[CONTAINER...]"
	cmd.Before = inUserNS // rootless: refused there, root only
	cmd.Action = func(c *cli.Context) error {
		if c.NArg() == 0 && !c.Bool("all") {
			return listMounted(c)
		}
		return forEachContainer(func(_ *cli.Context, s *store.Store, _ string, ctr *store.Container) (string, error) {
			return run.MountRootfs(s, ctr)
		})(c)
	}
	return cmd
}

// listMounted prints each mounted container's ID and mount.
func listMounted(c *cli.Context) error {
	s, _, err := openStore(c)
	if err != nil {
		return err
	}
	all, bad, err := s.ScanContainers()
	if err != nil {
		return err
	}
	warnBad(bad)
	for _, ctr := range all {
		if run.RootfsMounted(s, ctr) {
			fmt.Println(ctr.ID, run.MountPath(s, ctr))
		}
	}
	return nil
}

func umountCommand() *cli.Command {
	cmd := containerVerb("umount", "take containers' root filesystems off the host (root only)", selectFlags(true, false),
		func(_ *cli.Context, s *store.Store, ctr *store.Container) error { return run.UnmountRootfs(s, ctr) })
	cmd.Aliases = []string{"unmount"}
	cmd.Before = inUserNS
	return cmd
}

func restartCommand() *cli.Command {
	cmd := containerVerb("restart", "stop and start containers again",
		append(timeFlags(), selectFlags(true, false)...),
		func(c *cli.Context, s *store.Store, ctr *store.Container) error {
			return run.Restart(s, ctr, stopTime(c))
		})
	cmd.Before = func(c *cli.Context) error { return stopOutside(c, true, time.Duration(c.Int("time"))*time.Second) }
	return cmd
}

// stopOutside is the first half of rm and restart for a rootless user,
// run as the user itself: it stops the named containers
// if asked, since only the user may signal every ID of its range and a
// fresh user namespace may not, then finishes the command in tug's user
// namespace, where the container's files can be removed. Errors are
// left for the second half to report.
func stopOutside(c *cli.Context, stop bool, timeout time.Duration) error {
	if os.Geteuid() == 0 {
		return nil
	}
	if stop {
		if s, refs, err := targets(c); err == nil {
			for _, ref := range refs {
				if ctr, err := s.LookupContainer(ref); err == nil {
					run.Stop(s, ctr, timeout)
				}
			}
		}
	}
	return enterUserNS(c)
}

func waitCommand() *cli.Command {
	return &cli.Command{
		Name:      "wait",
		Usage:     "wait for containers to stop and print their exit codes",
		ArgsUsage: "CONTAINER [CONTAINER...]",
		Flags:     []cli.Flag{&cli.StringSliceFlag{Name: "condition", Usage: "wait for this state instead: running, paused, created, healthy, unhealthy, stopped (the default) or exited"}},
		Before: func(c *cli.Context) error {
			if err := run.CheckWaitConditions(c.StringSlice("condition")); err != nil {
				return usage(err)
			}
			return inUserNS(c)
		},
		Action: forEachContainer(func(c *cli.Context, s *store.Store, _ string, ctr *store.Container) (string, error) {
			code, err := run.WaitFor(s, ctr, c.StringSlice("condition"))
			return strconv.Itoa(code), err
		}),
	}
}

func logsCommand() *cli.Command {
	return &cli.Command{
		Name:      "logs",
		Before:    inUserNS,
		Usage:     "show a container's output",
		ArgsUsage: "CONTAINER",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep streaming new output until the container stops"},
			&cli.StringFlag{Name: "tail", Aliases: []string{"n"}, Value: "all", Usage: "lines from the end, or all"},
			&cli.BoolFlag{Name: "timestamps", Aliases: []string{"t"}, Usage: "show timestamps"},
			&cli.StringFlag{Name: "since", Usage: "only lines since a time: RFC 3339, Unix seconds, or a duration ago (10m)"},
			&cli.StringFlag{Name: "until", Usage: "only lines before a time, as --since takes it"},
			&cli.BoolFlag{Name: "details", Usage: "put the labels and env variables named by --log-opt labels=, env= before each line"},
		},
		Action: func(c *cli.Context) error {
			opt, err := logOptions(c)
			if err != nil {
				return err
			}
			s, ctr, err := oneContainer(c, 1, 1)
			if err != nil {
				return err
			}
			return run.Logs(s, ctr, opt, os.Stdout, os.Stderr)
		},
	}
}

// logOptions reads the flags of logs and pod logs.
func logOptions(c *cli.Context) (run.LogOptions, error) {
	opt := run.LogOptions{Follow: c.Bool("follow"), Timestamps: c.Bool("timestamps"), Details: c.Bool("details"), Tail: -1}
	if t := c.String("tail"); t != "all" {
		if _, err := fmt.Sscan(t, &opt.Tail); err != nil || opt.Tail < 0 {
			return opt, fmt.Errorf("--tail %q: want a number of lines or all", t)
		}
	}
	for _, t := range []struct {
		flag string
		to   *time.Time
	}{{"since", &opt.Since}, {"until", &opt.Until}} {
		if v := c.String(t.flag); v != "" {
			var err error
			if *t.to, err = human.ParseTime(v, time.Now()); err != nil {
				return opt, usage(fmt.Errorf("logs --%s %w", t.flag, err))
			}
		}
	}
	return opt, nil
}

func renameCommand() *cli.Command {
	return &cli.Command{
		Name:      "rename",
		Before:    inUserNS,
		Usage:     "rename a container",
		ArgsUsage: "CONTAINER NEW_NAME",
		Action: func(c *cli.Context) error {
			s, ctr, err := oneContainer(c, 2, 2)
			if err != nil {
				return err
			}
			return s.RenameContainer(ctr.ID, c.Args().Get(1))
		},
	}
}

func psCommand() *cli.Command {
	return &cli.Command{
		Name:    "ps",
		Before:  inUserNS,
		Aliases: []string{},
		Usage:   "list containers",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "show all containers, not only running ones"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only show IDs"},
			&cli.BoolFlag{Name: "latest", Aliases: []string{"l"}, Usage: "only the latest created container"},
			&cli.IntFlag{Name: "last", Aliases: []string{"n"}, Value: -1, Usage: "only the N latest created containers"},
			&cli.BoolFlag{Name: "no-trunc", Usage: "do not truncate output"},
			&cli.BoolFlag{Name: "size", Aliases: []string{"s"}, Usage: "show what each container's files take"},
			&cli.StringSliceFlag{Name: "filter", Aliases: []string{"f"}, Usage: "status=, name=, id=, ancestor=, label=K[=V], health=, exited=, network=, volume=, before=, since=, pod="},
			&cli.BoolFlag{Name: "pod", Aliases: []string{"p"}, Usage: "show each container's pod (podman's)"},
			&cli.StringFlag{Name: "format", Usage: "Go template, 'table TEMPLATE' or 'json'"},
			&cli.BoolFlag{Name: "external", Usage: "also containers of other tools (podman's; tug has none)"},
			noHeadingFlag(),
		},
		Action: ps,
	}
}

func ps(c *cli.Context) error {
	s, _, err := openStore(c)
	if err != nil {
		return err
	}
	filters, err := run.ParseFilters(c.StringSlice("filter"))
	if err != nil {
		return err
	}
	opt := run.PsOptions{All: c.Bool("all"), Last: c.Int("last"), Filters: filters, NoTrunc: c.Bool("no-trunc"), Size: c.Bool("size")}
	if c.Bool("latest") {
		opt.Last = 1
	}
	rows, bad, err := run.Ps(s, opt)
	if err != nil {
		return err
	}
	warnBad(bad)
	l := listing{format: c.String("format"),
		table: "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}",
		headers: map[string]string{"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
			"RunningFor": "CREATED", "Status": "STATUS", "State": "STATE", "Ports": "PORTS", "Names": "NAMES", "Labels": "LABELS", "Size": "SIZE",
			"Pod": "POD ID", "PodName": "PODNAME"}}
	if opt.Size {
		l.table += "\t{{.Size}}"
	}
	if c.Bool("pod") {
		l.table += "\t{{.Pod}}\t{{.PodName}}"
	}
	return printRows(c, l, rows, func(r run.PsRow) string { return r.ID }, false)
}

func containerPruneCommand() *cli.Command {
	return &cli.Command{
		Name:   "prune",
		Before: inUserNS,
		Usage:  "remove all stopped containers",
		Flags:  []cli.Flag{forceFlag()},
		Action: func(c *cli.Context) error {
			if err := confirmPrune(c, "all stopped containers"); err != nil {
				return err
			}
			s, _, err := openStore(c)
			if err != nil {
				return err
			}
			removed, bad, err := run.Prune(s)
			warnBad(bad)
			for _, id := range removed {
				fmt.Println(id)
			}
			return err
		},
	}
}

// containerCommand is `tug container …`, docker's management form.
func containerCommand() *cli.Command {
	ls := psCommand()
	ls.Name, ls.Aliases = "ls", []string{"list"}
	return &cli.Command{
		Name:  "container",
		Usage: "manage containers",
		Subcommands: []*cli.Command{
			ls, runCommand(), createCommand(), startCommand(), stopCommand(), killCommand(), rmCommand(),
			restartCommand(), pauseCommand(), unpauseCommand(), waitCommand(), logsCommand(), execCommand(), attachCommand(), topCommand(), statsCommand(), updateCommand(), cpCommand(),
			exportCommand(), diffCommand(), commitCommand(), portCommand(), renameCommand(), containerPruneCommand(), containerInspectCommand(),
			existsCommand("container"), mountCommand(), umountCommand(),
		},
	}
}

func containerInspectCommand() *cli.Command {
	cmd := inspectCommand()
	cmd.Usage = "show details of containers as JSON"
	cmd.ArgsUsage = "CONTAINER [CONTAINER...]"
	cmd.Flags = append(inspectFlags(), sizeFlag())
	cmd.Action = func(c *cli.Context) error { return inspect(c, "container") }
	return cmd
}

func execCommand() *cli.Command {
	return &cli.Command{
		Name:      "exec",
		Usage:     "run a command in a running container",
		ArgsUsage: "CONTAINER COMMAND [ARG...]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "interactive", Aliases: []string{"i"}, Usage: "keep stdin open"},
			&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "allocate a pseudo-terminal"},
			&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "run the command in the background"},
			&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}, Usage: "set K=V, or copy K from this environment"},
			&cli.StringFlag{Name: "workdir", Aliases: []string{"w"}, Usage: "working directory in the container"},
			&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "USER[:GROUP] or UID[:GID]"},
			&cli.BoolFlag{Name: "privileged", Usage: "give the command every capability and no seccomp filter"},
		},
		Action: func(c *cli.Context) error {
			s, ctr, err := oneContainer(c, 2, -1)
			if err != nil {
				return err
			}
			opt := run.ExecOptions{
				Args: c.Args().Tail(), Env: c.StringSlice("env"), Workdir: c.String("workdir"), User: c.String("user"),
				Tty: c.Bool("tty"), Interactive: c.Bool("interactive"), Detach: c.Bool("detach"), Privileged: c.Bool("privileged"),
			}
			return exited(run.Exec(s, ctr, opt, run.IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}))
		},
	}
}

func attachCommand() *cli.Command {
	return &cli.Command{
		Name:      "attach",
		Before:    inUserNS,
		Usage:     "connect to a detached container's output (and input, with -i); ctrl-p ctrl-q detaches on a terminal",
		ArgsUsage: "CONTAINER",
		Flags:     []cli.Flag{detachKeysFlag()},
		Action: func(c *cli.Context) error {
			keys, err := run.ParseDetachKeys(c.String("detach-keys"))
			if err != nil {
				return usage(err)
			}
			s, ctr, err := oneContainer(c, 1, 1)
			if err != nil {
				return err
			}
			return exited(run.Attach(s, ctr, run.IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}, keys))
		},
	}
}
