package commands

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"tug/config"
	"tug/pod"
	"tug/run"
	"tug/store"
)

func podCommand() *cli.Command {
	return &cli.Command{
		Name:  "pod",
		Usage: "manage pods: containers that share namespaces",
		Subcommands: []*cli.Command{
			podCreateCommand(),
			podListCommand(),
			podInspectCommand(),
			podVerb("start", "start pods: the infra container, then the others", nil, podStartBefore,
				func(c *cli.Context, s *store.Store, p *store.Pod) error { return pod.Start(s, p) }),
			podVerb("stop", "stop pods: their containers at once, then the infra container", timeFlags(), nil,
				func(c *cli.Context, s *store.Store, p *store.Pod) error { return pod.Stop(s, p, stopTime(c)) }),
			podVerb("restart", "stop pods and start them again", timeFlags(), podRestartBefore,
				func(c *cli.Context, s *store.Store, p *store.Pod) error { return pod.Restart(s, p, stopTime(c)) }),
			podVerb("kill", "send a signal to every running container of pods (SIGKILL by default)",
				[]cli.Flag{&cli.StringFlag{Name: "signal", Aliases: []string{"s"}, Value: "KILL", Usage: "signal name or number"}}, nil,
				func(c *cli.Context, s *store.Store, p *store.Pod) error {
					sig, err := run.ParseSignal(c.String("signal"))
					if err != nil {
						return err
					}
					return pod.Kill(s, p, sig)
				}),
			podVerb("pause", "freeze every running container of pods", nil, inUserNS,
				func(c *cli.Context, s *store.Store, p *store.Pod) error { return pod.Pause(s, p) }),
			podVerb("unpause", "thaw pods' paused containers", nil, inUserNS,
				func(c *cli.Context, s *store.Store, p *store.Pod) error { return pod.Unpause(s, p) }),
			podRmCommand(),
			podTopCommand(),
			podStatsCommand(),
			podLogsCommand(),
			podExistsCommand(),
			podPruneCommand(),
		},
	}
}

// onePod opens the store and looks up the pod the first argument names,
// with between min and max arguments.
func onePod(c *cli.Context, min, max int) (*store.Store, *store.Pod, error) {
	if err := needArgs(c, min, max); err != nil {
		return nil, nil, err
	}
	s, _, err := openStore(c)
	if err != nil {
		return nil, nil, err
	}
	p, err := s.LookupPod(c.Args().First())
	return s, p, err
}

// podRef is the infra container of the pod named first among the
// arguments, whose user namespace a rootless tug joins when it runs.
func podRef(c *cli.Context) string {
	if s, _, err := openStore(c); err == nil {
		if p, err := s.LookupPod(c.Args().First()); err == nil {
			return p.Infra
		}
	}
	return ""
}

// podStartBefore: a rootless pod start joins the user namespace of the
// pod's running infra container, or makes the one it starts it in.
var podStartBefore = intoUserNS(podRef)

// podRestartBefore stops the pods as the user itself, as restart does
// for containers, then restarts them in a fresh user namespace.
func podRestartBefore(c *cli.Context) error { return stopPodsOutside(c, true, stopTime(c)) }

// stopPodsOutside is stopOutside for pods: a rootless user stops the
// pods named as itself if asked (only it may signal every ID of its
// range), then the command goes on in tug's user namespace. Errors are
// left for the command to report.
func stopPodsOutside(c *cli.Context, stop bool, timeout time.Duration) error {
	if os.Geteuid() != 0 && stop {
		if s, _, err := openStore(c); err == nil {
			for _, ref := range c.Args().Slice() {
				if p, err := s.LookupPod(ref); err == nil {
					pod.Stop(s, p, timeout)
				}
			}
		}
	}
	return inUserNS(c)
}

// podVerb is a verb on POD [POD...] that prints each pod's ID once it
// is done, as podman's do, and goes on past a failure.
func podVerb(name, use string, flags []cli.Flag, before cli.BeforeFunc, fn func(c *cli.Context, s *store.Store, p *store.Pod) error) *cli.Command {
	return &cli.Command{
		Name:      name,
		Usage:     use,
		ArgsUsage: "POD [POD...]",
		Flags:     flags,
		Before:    before,
		Action:    forEachPod(fn),
	}
}

// forEachPod is the action of a verb on POD [POD...]: fn runs on each,
// going on after a failure, and the pod's ID is printed when it
// succeeds (a missing pod is passed over with -i, where the verb has it).
func forEachPod(fn func(c *cli.Context, s *store.Store, p *store.Pod) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		if err := needArgs(c, 1, -1); err != nil {
			return err
		}
		s, _, err := openStore(c)
		if err != nil {
			return err
		}
		var errs []error
		for _, ref := range c.Args().Slice() {
			p, err := s.LookupPod(ref)
			if err == nil {
				err = fn(c, s, p)
			}
			if err == nil {
				fmt.Println(p.ID)
			}
			errs = append(errs, err)
		}
		return ignoreMissing(c, errors.Join(errs...))
	}
}

func podCreateCommand() *cli.Command {
	return &cli.Command{
		Name:   "create",
		Usage:  "create a pod: an infra container holding the namespaces its members share",
		Before: inUserNS,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "name", Aliases: []string{"n"}, Usage: "the pod's name (default: a random one)"},
			&cli.StringSliceFlag{Name: "publish", Aliases: []string{"p"}, Usage: "publish [IP:][HOSTPORT:]CONTAINERPORT[/tcp|/udp] for every member"},
			&cli.StringFlag{Name: "network", Aliases: []string{"net"}, Usage: "the members' network: bridge (the default), none, host or a network NAME"},
			&cli.StringFlag{Name: "hostname", Usage: "the members' hostname (default: the pod's name)"},
			&cli.StringSliceFlag{Name: "label", Aliases: []string{"l"}, Usage: "set a label K=V"},
			&cli.StringFlag{Name: "share", Value: pod.DefaultShare, Usage: "namespaces the members share: net, ipc, uts, pid"},
			&cli.StringSliceFlag{Name: "add-host", Usage: "add NAME:IP to the members' /etc/hosts"},
			&cli.StringSliceFlag{Name: "dns", Usage: "a DNS server for the members"},
			&cli.StringSliceFlag{Name: "dns-search", Usage: "a DNS search domain"},
			&cli.StringSliceFlag{Name: "dns-option", Aliases: []string{"dns-opt"}, Usage: "a resolv.conf option"},
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 0, 0); err != nil {
				return err
			}
			s, cfg, err := openStore(c)
			if err != nil {
				return err
			}
			p, err := pod.Create(s, pod.Options{
				Name: c.String("name"), Labels: c.StringSlice("label"), Share: c.String("share"),
				Infra: run.Options{
					Network: c.String("network"), Publish: c.StringSlice("publish"), Hostname: c.String("hostname"),
					AddHosts: c.StringSlice("add-host"), DNS: c.StringSlice("dns"), DNSSearch: c.StringSlice("dns-search"), DNSOptions: c.StringSlice("dns-option"),
					Subnet: cfg.Network.Subnet, StrictLimits: cfg.Rootless.StrictLimits, StorageDriver: cfg.Rootless.StorageDriver,
					ForceDriver: c.String("storage-driver"), CgroupManager: cfg.Engine.CgroupManager,
				},
			})
			if err != nil {
				return tugFailed(err)
			}
			fmt.Println(p.ID)
			return nil
		},
	}
}

func podListCommand() *cli.Command {
	return &cli.Command{
		Name:    "ls",
		Aliases: []string{"ps", "list"},
		Usage:   "list pods",
		Before:  inUserNS,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only show IDs"},
			&cli.BoolFlag{Name: "no-trunc", Usage: "do not truncate IDs"},
			&cli.StringSliceFlag{Name: "filter", Aliases: []string{"f"}, Usage: "name=, id=, label=K[=V], status=created|running|degraded|paused|exited"},
			&cli.StringFlag{Name: "format", Usage: "Go template, 'table TEMPLATE' or 'json'"},
			&cli.BoolFlag{Name: "ctr-names", Usage: "show the names of each pod's containers"},
			noHeadingFlag(),
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 0, 0); err != nil {
				return err
			}
			filters := map[string][]string{}
			for _, f := range c.StringSlice("filter") {
				k, v, ok := strings.Cut(f, "=")
				if !ok {
					return usage(fmt.Errorf("--filter %q: want KEY=VALUE", f))
				}
				filters[k] = append(filters[k], v)
			}
			if err := pod.CheckFilters(filters); err != nil {
				return usage(err)
			}
			s, _, err := openStore(c)
			if err != nil {
				return err
			}
			rows, err := pod.List(s, filters, c.Bool("no-trunc"))
			if err != nil {
				return err
			}
			l := listing{format: c.String("format"),
				table: "table {{.ID}}\t{{.Name}}\t{{.Status}}\t{{.Created}}\t{{.InfraID}}\t{{.NumberOfContainers}}",
				headers: map[string]string{"ID": "POD ID", "Name": "NAME", "Status": "STATUS", "Created": "CREATED", "InfraID": "INFRA ID",
					"NumberOfContainers": "# OF CONTAINERS", "Labels": "LABELS", "Networks": "NETWORKS", "ContainerNames": "NAMES"}}
			if c.Bool("ctr-names") {
				l.table += "\t{{.ContainerNames}}"
			}
			return printRows(c, l, rows, func(r pod.Row) string { return r.ID }, false)
		},
	}
}

func podInspectCommand() *cli.Command {
	return &cli.Command{
		Name:      "inspect",
		Usage:     "show details of pods as JSON",
		ArgsUsage: "POD [POD...]",
		Before:    inUserNS,
		Flags:     []cli.Flag{&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Usage: "Go template"}},
		Action: func(c *cli.Context) error {
			return inspectEach(c, func(s *store.Store, _ config.Config, ref string) (any, error) {
				return inspectPod(s, ref)
			})
		},
	}
}

// inspectPod is pod inspect's view of the pod ref names.
func inspectPod(s *store.Store, ref string) (any, error) {
	p, err := s.LookupPod(ref)
	if err != nil {
		return nil, err
	}
	return pod.InspectPod(s, p)
}

func podRmCommand() *cli.Command {
	return &cli.Command{
		Name:      "rm",
		Usage:     "remove pods with their containers",
		ArgsUsage: "POD [POD...]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "stop a running pod first"},
			&cli.IntFlag{Name: "time", Aliases: []string{"t"}, Value: 10, Usage: "with -f, seconds to wait before SIGKILL"},
			ignoreFlag(),
		},
		Before: func(c *cli.Context) error { return stopPodsOutside(c, c.Bool("force"), rmTime(c)) },
		Action: forEachPod(func(c *cli.Context, s *store.Store, p *store.Pod) error {
			return pod.Remove(s, p, c.Bool("force"), rmTime(c))
		}),
	}
}

// rmTime is pod rm -t.
func rmTime(c *cli.Context) time.Duration { return time.Duration(c.Int("time")) * time.Second }

func podTopCommand() *cli.Command {
	return &cli.Command{
		Name:      "top",
		Usage:     "list the processes of a pod's containers",
		ArgsUsage: "POD",
		Before:    intoUserNS(podRef),
		Action: func(c *cli.Context) error {
			s, p, err := onePod(c, 1, 1)
			if err != nil {
				return err
			}
			infra, members, err := pod.Members(s, p)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(os.Stdout, 0, 4, 3, ' ', 0)
			fmt.Fprintln(tw, "CONTAINER\tUID\tPID\tPPID\tCMD")
			if infra != nil { // its record may be gone from a damaged store
				members = append(members, infra)
			}
			for _, ctr := range members {
				procs, err := run.Top(s, ctr)
				if err != nil {
					continue // not running
				}
				for _, pr := range procs {
					fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", ctr.Name, pr.UID, pr.PID, pr.PPID, pr.Cmd)
				}
			}
			return tw.Flush()
		},
	}
}

func podStatsCommand() *cli.Command {
	cmd := statsCommand()
	cmd.Usage = "show the resource use of pods' containers"
	cmd.ArgsUsage = "[POD...]"
	cmd.Action = func(c *cli.Context) error {
		return showStats(c, func(s *store.Store) ([]*store.Container, error) {
			return podContainers(s, c.Args().Slice())
		})
	}
	return cmd
}

// podContainers are the running containers of the pods named, or of
// every pod.
func podContainers(s *store.Store, refs []string) ([]*store.Container, error) {
	var pods []*store.Pod
	if len(refs) == 0 {
		var err error
		if pods, err = s.Pods(); err != nil {
			return nil, err
		}
	}
	for _, ref := range refs {
		p, err := s.LookupPod(ref)
		if err != nil {
			return nil, err
		}
		pods = append(pods, p)
	}
	var out []*store.Container
	for _, p := range pods {
		ctrs, err := s.PodMembers(p.ID)
		if err != nil {
			return nil, err
		}
		for _, ctr := range ctrs {
			if st, err := run.State(s, ctr); err == nil && st.Status == store.StatusRunning {
				out = append(out, ctr)
			}
		}
	}
	return out, nil
}

func podLogsCommand() *cli.Command {
	cmd := logsCommand()
	cmd.Usage = "show the output of a pod's containers, each line after its container's ID (or name, with -n)"
	cmd.ArgsUsage = "POD"
	cmd.Flags = append(cmd.Flags,
		&cli.StringFlag{Name: "container", Aliases: []string{"c"}, Usage: "only this container's"},
		&cli.BoolFlag{Name: "names", Usage: "prefix lines with the container's name, not its ID"})
	cmd.Action = func(c *cli.Context) error {
		opt, err := logOptions(c)
		if err != nil {
			return err
		}
		s, p, err := onePod(c, 1, 1)
		if err != nil {
			return err
		}
		_, members, err := pod.Members(s, p)
		if err != nil {
			return err
		}
		if ref := c.String("container"); ref != "" {
			ctr, err := s.LookupContainer(ref)
			if err != nil {
				return err
			}
			if ctr.Pod != p.ID {
				return fmt.Errorf("container %s is not in pod %s: %w", ctr.Name, p.Name, store.ErrNotFound)
			}
			members = []*store.Container{ctr}
		}
		prefix := func(ctr *store.Container) string { return ctr.ID[:12] + " " }
		if c.Bool("names") {
			prefix = func(ctr *store.Container) string { return ctr.Name + " " }
		}
		return prefixedLogs(s, members, opt, prefix)
	}
	return cmd
}

func podExistsCommand() *cli.Command {
	return &cli.Command{
		Name:      "exists",
		Usage:     "exit 0 if the pod exists, 1 if not",
		ArgsUsage: "POD",
		Before:    inUserNS,
		Action: func(c *cli.Context) error {
			if _, _, err := onePod(c, 1, 1); errors.Is(err, store.ErrNotFound) {
				return coded{errors.New(""), 1}
			} else if err != nil {
				return err
			}
			return nil
		},
	}
}

func podPruneCommand() *cli.Command {
	return &cli.Command{
		Name:   "prune",
		Usage:  "remove every pod none of whose containers runs",
		Before: inUserNS,
		Flags:  []cli.Flag{forceFlag()},
		Action: func(c *cli.Context) error {
			if err := confirmPrune(c, "all stopped pods and their containers"); err != nil {
				return err
			}
			s, _, err := openStore(c)
			if err != nil {
				return err
			}
			removed, err := pod.Prune(s)
			for _, id := range removed {
				fmt.Println(id)
			}
			return err
		},
	}
}

// prefixedLogs prints the logs of ctrs (pod logs, compose logs), each
// line after its container's prefix: one after another, or all at once
// with --follow.
func prefixedLogs(s *store.Store, ctrs []*store.Container, opt run.LogOptions, prefix func(*store.Container) string) error {
	var mu sync.Mutex
	errs := make([]error, len(ctrs))
	var wg sync.WaitGroup
	for i, ctr := range ctrs {
		stdout := &prefixed{mu: &mu, w: os.Stdout, prefix: prefix(ctr)}
		stderr := &prefixed{mu: &mu, w: os.Stderr, prefix: prefix(ctr)}
		show := func() {
			errs[i] = run.Logs(s, ctr, opt, stdout, stderr)
			stdout.flush()
			stderr.flush()
		}
		if !opt.Follow {
			show()
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); show() }()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// prefixed writes whole lines to w, each after prefix, under mu (which
// the writers of one output share, so their lines never mix).
type prefixed struct {
	mu     *sync.Mutex
	w      io.Writer
	prefix string
	part   []byte // a line not ended yet
}

func (p *prefixed) Write(b []byte) (int, error) {
	p.part = append(p.part, b...)
	end := bytes.LastIndexByte(p.part, '\n')
	if end < 0 {
		return len(b), nil
	}
	var out []byte
	for _, line := range bytes.SplitAfter(p.part[:end+1], []byte("\n")) {
		if len(line) > 0 {
			out = append(append(out, p.prefix...), line...)
		}
	}
	p.part = append(p.part[:0], p.part[end+1:]...)
	p.mu.Lock()
	defer p.mu.Unlock()
	_, err := p.w.Write(out)
	return len(b), err
}

// flush writes a last line that had no newline.
func (p *prefixed) flush() {
	if len(p.part) > 0 {
		p.Write([]byte("\n"))
	}
}
