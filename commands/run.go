package commands

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"tug/pod"
	"tug/pull"
	"tug/run"
	"tug/run/health"
	"tug/store"
)

// exitStatus is a container's own non-zero exit code: tug exits with it
// and prints nothing.
type exitStatus int

func (e exitStatus) Error() string { return "" }
func (e exitStatus) ExitCode() int { return int(e) }

// exited is tug's end after a container's process ended with code (or
// failed to run: err): its code, err, or nothing for 0.
func exited(code int, err error) error {
	if err != nil {
		return err
	}
	if code != 0 {
		return exitStatus(code)
	}
	return nil
}

// containerFlags are the flags run and create share.
func containerFlags() []cli.Flag {
	return append([]cli.Flag{
		&cli.StringFlag{Name: "name", Usage: "container name (default: generated)"},
		&cli.BoolFlag{Name: "interactive", Aliases: []string{"i"}, Usage: "keep stdin open"},
		&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "allocate a pseudo-terminal"},
		&cli.BoolFlag{Name: "rm", Usage: "remove the container when it exits"},
		&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}, Usage: "set K=V, or copy K from this environment"},
		&cli.StringSliceFlag{Name: "env-file", Usage: "read K=V lines from a file"},
		&cli.StringFlag{Name: "workdir", Aliases: []string{"w"}, Usage: "working directory (created if missing)"},
		&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "USER[:GROUP] or UID[:GID], resolved in the image"},
		&cli.StringFlag{Name: "entrypoint", Usage: "replace the image's entrypoint (\"\" clears it)"},
		&cli.StringFlag{Name: "hostname", Aliases: []string{"h"}, Usage: "container host name (default: short ID)"},
		&cli.StringSliceFlag{Name: "volume", Aliases: []string{"v"}, Usage: "bind mount HOST:CONTAINER[:ro|rw]"},
		&cli.StringSliceFlag{Name: "mount", Usage: "type=bind,src=HOST,dst=PATH | type=volume[,src=NAME],dst=PATH[,volume-nocopy] | type=tmpfs,dst=PATH[,tmpfs-size=N,tmpfs-mode=M]; readonly"},
		&cli.StringSliceFlag{Name: "volumes-from", Usage: "the volumes and binds of CONTAINER[:ro|rw]"},
		&cli.BoolFlag{Name: "init", Usage: "run tug's init as pid 1: it reaps zombies and forwards signals"},
		&cli.BoolFlag{Name: "read-only", Usage: "mount the container's root filesystem read-only"},
		&cli.StringSliceFlag{Name: "security-opt", Usage: "no-new-privileges, seccomp=unconfined or seccomp=PROFILE.json"},
		&cli.StringSliceFlag{Name: "cap-add", Usage: "add a capability (or ALL)"},
		&cli.StringSliceFlag{Name: "cap-drop", Usage: "drop a capability (or ALL)"},
		&cli.BoolFlag{Name: "privileged", Usage: "all capabilities and devices, no seccomp, no masked paths"},
		&cli.StringSliceFlag{Name: "tmpfs", Usage: "mount a tmpfs PATH[:OPTIONS]"},
		&cli.StringSliceFlag{Name: "ulimit", Usage: "NAME=SOFT[:HARD], e.g. nofile=1024:2048"},
		&cli.StringSliceFlag{Name: "sysctl", Usage: "set a namespaced sysctl NAME=VALUE"},
		&cli.StringFlag{Name: "shm-size", Usage: "size of /dev/shm (64m by default)"},
		&cli.IntFlag{Name: "oom-score-adj", Usage: "OOM killer preference, -1000 to 1000"},
		&cli.StringSliceFlag{Name: "device", Usage: "add a host device HOST[:CONTAINER][:rwm]"},
		&cli.StringSliceFlag{Name: "device-cgroup-rule", Usage: "allow devices in the device cgroup: 'c 1:3 rwm', 'b 8:* r'"},
		&cli.StringFlag{Name: "pull", Value: "missing", Usage: "pull the image: missing, always or never"},
		&cli.StringFlag{Name: "pod", Usage: "join pod NAME, sharing its namespaces; new:NAME makes it, with this container's -p, --network and hostname"},
		&cli.StringFlag{Name: "network", Aliases: []string{"net"}, Value: "bridge", Usage: "bridge (tug0, with NAT), none (only lo), host, a network NAME or container:NAME (share its netns)"},
		&cli.StringSliceFlag{Name: "publish", Aliases: []string{"p"}, Usage: "publish [IP:][HOSTPORT:]CONTAINERPORT[/tcp|/udp] (bridge)"},
		&cli.BoolFlag{Name: "publish-all", Aliases: []string{"P"}, Usage: "publish the image's EXPOSE ports on random host ports"},
		&cli.StringFlag{Name: "ip", Usage: "the container's address on the bridge network"},
		&cli.StringFlag{Name: "mac-address", Usage: "the container's Ethernet address (bridge, pasta or slirp4netns)"},
		&cli.StringSliceFlag{Name: "dns", Usage: "a DNS server for the container"},
		&cli.StringSliceFlag{Name: "dns-search", Usage: "a DNS search domain"},
		&cli.StringSliceFlag{Name: "dns-option", Aliases: []string{"dns-opt"}, Usage: "a resolv.conf option"},
		&cli.StringSliceFlag{Name: "add-host", Usage: "add NAME:IP to /etc/hosts"},
		&cli.StringSliceFlag{Name: "network-alias", Usage: "another name the container answers to on its network"},
		&cli.StringFlag{Name: "log-driver", Value: run.LogK8sFile, Usage: "k8s-file (podman's), json-file (docker's format), none, or passthrough (tug's own stdio, foreground only)"},
		&cli.StringFlag{Name: "tz", Usage: "the container's time zone: a zoneinfo name, or local for the host's"},
		&cli.IntFlag{Name: "timeout", Usage: "seconds the container may run before it is killed (0: no limit)"},
		&cli.BoolFlag{Name: "replace", Usage: "remove a container of the same --name first"},
		&cli.StringFlag{Name: "health-cmd", Usage: "the healthcheck's command: a shell command, or a JSON array of words (NONE: none)"},
		&cli.DurationFlag{Name: "health-interval", Usage: "time between healthchecks (default 30s)"},
		&cli.DurationFlag{Name: "health-timeout", Usage: "time a healthcheck may take (default 30s)"},
		&cli.IntFlag{Name: "health-retries", Usage: "failures in a row that make the container unhealthy (default 3)"},
		&cli.DurationFlag{Name: "health-start-period", Usage: "time at the start during which failures do not count"},
		&cli.DurationFlag{Name: "health-start-interval", Usage: "time between healthchecks during the start period (default 5s)"},
		&cli.StringFlag{Name: "cidfile", Usage: "write the container's ID to FILE (which must not exist)"},
		&cli.StringFlag{Name: "stop-signal", Usage: "the signal stop sends first (default: the image's STOPSIGNAL, else SIGTERM)"},
		&cli.IntFlag{Name: "stop-timeout", Usage: "seconds stop waits before SIGKILL (default 10)"},
		&cli.StringFlag{Name: "umask", Usage: "the container's umask, octal (default 0022)"},
		&cli.BoolFlag{Name: "env-host", Usage: "give the container tug's environment (-e and --env-file over it)"},
		&cli.StringSliceFlag{Name: "annotation", Usage: "set an annotation K=V (inspect .Config.Annotations)"},
		&cli.StringSliceFlag{Name: "group-add", Usage: "a supplementary group for the container's processes: a name in its /etc/group, or a number"},
		&cli.StringSliceFlag{Name: "attach", Aliases: []string{"a"}, Usage: "attach only these of the container's streams: stdin, stdout, stderr (the foreground's, all by default)"},
		&cli.BoolFlag{Name: "no-hosts", Usage: "leave the image's /etc/hosts: tug writes none"},
		&cli.StringFlag{Name: "uts", Usage: "the UTS namespace: private (the default), host or container:NAME"},
		&cli.StringFlag{Name: "userns", Usage: "the user namespace: host (tug's, the default) or keep-id (rootless: your UID and GID inside, and the container runs as you)"},
		&cli.StringFlag{Name: "ipc", Usage: "the IPC namespace: private (the default) or host"},
		&cli.StringFlag{Name: "pid", Usage: "the pid namespace: private (the default), host or container:NAME"},
		&cli.BoolFlag{Name: "sig-proxy", Value: true, Usage: "pass the signals tug gets on to the container (in the foreground)"},
		detachKeysFlag(),
		&cli.BoolFlag{Name: "no-healthcheck", Usage: "run no healthcheck, the image's HEALTHCHECK included"},
		&cli.StringFlag{Name: "health-on-failure", Usage: "what an unhealthy container gets: none, kill, restart or stop"},
		&cli.IntFlag{Name: "preserve-fds", Usage: "hand the container tug's fds 3 to 3+N-1 (in the foreground)"},
		&cli.StringFlag{Name: "platform", Usage: "os/arch[/variant] to pull"},
		&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "run in the background under a monitor and print the container ID"},
		&cli.StringSliceFlag{Name: "label", Aliases: []string{"l"}, Usage: "set a label K=V"},
		&cli.StringFlag{Name: "restart", Value: "no", Usage: "no, on-failure[:N], always or unless-stopped"},
		&cli.StringSliceFlag{Name: "log-opt", Usage: "max-size=SIZE: rotate the log at SIZE; labels=L1,L2, labels-regex=RE, env=E1,E2, env-regex=RE: what logs --details shows"},
		// -h is docker's --hostname here, so help is --help alone.
		&cli.BoolFlag{Name: "help", Usage: "show help"},
	}, limitFlags()...)
}

// limitFlags are the resource flags of run, create and update.
func limitFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "memory", Aliases: []string{"m"}, Usage: "memory limit (512m, 1g)"},
		&cli.StringFlag{Name: "memory-reservation", Usage: "memory soft limit"},
		&cli.StringFlag{Name: "memory-swap", Usage: "memory plus swap limit; -1 for unlimited swap"},
		&cli.StringFlag{Name: "cpus", Usage: "number of CPUs (0.5 is half of one)"},
		&cli.Int64Flag{Name: "cpu-shares", Aliases: []string{"c"}, Usage: "relative CPU weight (1024 is the default)"},
		&cli.StringFlag{Name: "cpuset-cpus", Usage: "CPUs to run on (0-2, 0,1)"},
		&cli.StringFlag{Name: "cpuset-mems", Usage: "memory nodes to use"},
		&cli.Int64Flag{Name: "pids-limit", Usage: "maximum number of processes; -1 for unlimited"},
		&cli.Int64Flag{Name: "blkio-weight", Usage: "block I/O weight, 10 to 1000"},
		&cli.StringSliceFlag{Name: "device-read-bps", Usage: "read rate limit DEVICE:RATE (/dev/sda:1mb)"},
		&cli.StringSliceFlag{Name: "device-write-bps", Usage: "write rate limit DEVICE:RATE"},
	}
}

// withHelp shows the command's help for --help, else runs action, whose
// failures are tug's (125) unless they carry a code.
func withHelp(action cli.ActionFunc) cli.ActionFunc {
	return func(c *cli.Context) error {
		if c.Bool("help") {
			return cli.ShowCommandHelp(c, c.Command.Name)
		}
		return tugFailed(action(c))
	}
}

// namespaceOwner is the container whose namespaces --network (else
// --ipc) container:NAME shares, if any, or --pod's infra container.
func namespaceOwner(c *cli.Context) string {
	if ref := c.String("pod"); ref != "" && !strings.HasPrefix(ref, "new:") {
		if s, _, err := openStore(c); err == nil {
			if p, err := s.LookupPod(ref); err == nil {
				return p.Infra
			}
		}
	}
	for _, flag := range []string{"network", "ipc"} {
		if ref, ok := strings.CutPrefix(c.String(flag), "container:"); ok {
			return ref
		}
	}
	return ""
}

func runCommand() *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "run a command in a new container",
		ArgsUsage: "IMAGE [COMMAND [ARG...]]",
		Flags:     containerFlags(),
		HideHelp:  true,
		Before:    intoUserNS(namespaceOwner),
		Action:    withHelp(runAction),
	}
}

func createCommand() *cli.Command {
	return &cli.Command{
		Name:      "create",
		Usage:     "create a container without starting it",
		ArgsUsage: "IMAGE [COMMAND [ARG...]]",
		Flags:     containerFlags(),
		HideHelp:  true,
		Before:    intoUserNS(namespaceOwner),
		Action: withHelp(func(c *cli.Context) error {
			_, ctr, err := create(c)
			if err != nil {
				return err
			}
			fmt.Println(ctr.ID)
			return nil
		}),
	}
}

func startCommand() *cli.Command {
	return &cli.Command{
		Name:      "start",
		Usage:     "start created or stopped containers",
		ArgsUsage: "CONTAINER [CONTAINER...]",
		Before: intoUserNS(func(c *cli.Context) string {
			if s, _, err := openStore(c); err == nil {
				if ctr, err := s.LookupContainer(c.Args().First()); err == nil {
					return run.NamespaceOwner(ctr)
				}
			}
			return ""
		}),
		Flags: append([]cli.Flag{
			&cli.BoolFlag{Name: "attach", Aliases: []string{"a"}, Usage: "run in the foreground, attached to its output"},
			&cli.BoolFlag{Name: "interactive", Aliases: []string{"i"}, Usage: "attach stdin (with -a)"},
			&cli.BoolFlag{Name: "at-boot", Usage: "start what a restart policy brings back at boot: always, and unless-stopped unless stopped (tug-restart.service runs this)"},
			detachKeysFlag(),
		}, selectFlags(false, true)...),
		Action: func(c *cli.Context) error {
			if c.Bool("attach") {
				return startAttached(c)
			}
			return forEachContainer(func(_ *cli.Context, s *store.Store, ref string, ctr *store.Container) (string, error) {
				return ref, run.StartDetached(s, ctr)
			})(c)
		},
	}
}

// startAttached is start -a: one container, in the foreground.
func startAttached(c *cli.Context) error {
	// none gets start's own message (at least 1), more than one -a's
	if err := needArgs(c, 1, -1); err != nil {
		return err
	}
	if err := needArgs(c, 1, 1); err != nil {
		return err
	}
	s, _, err := openStore(c)
	if err != nil {
		return err
	}
	ctr, err := s.LookupContainer(c.Args().First())
	if err != nil {
		return err
	}
	return foreground(c, s, ctr, c.Bool("interactive"))
}

func runAction(c *cli.Context) error {
	if c.Bool("detach") && c.IsSet("attach") {
		return usage(errors.New("conflicting options: -a/--attach and -d/--detach"))
	}
	for _, a := range c.StringSlice("attach") {
		if a = strings.ToLower(a); a != "stdin" && a != "stdout" && a != "stderr" {
			return usage(fmt.Errorf("--attach %q: want stdin, stdout or stderr", a))
		}
	}
	if c.Bool("detach") && (c.String("log-driver") == run.LogPassthrough || c.Int("preserve-fds") > 0) {
		return usage(errors.New("--log-driver passthrough and --preserve-fds hand the container tug's own fds: they do not go with -d"))
	}
	infraUp := podAhead(c)
	defer infraUp()
	s, ctr, err := create(c)
	if err != nil {
		return err
	}
	if c.Bool("detach") {
		if err := run.StartDetached(s, ctr); err != nil {
			return err
		}
		fmt.Println(ctr.ID)
		return nil
	}
	return foreground(c, s, ctr, c.Bool("interactive"))
}

// foreground runs a container attached to tug's stdio and turns its exit
// code into tug's.
func foreground(c *cli.Context, s *store.Store, ctr *store.Container, interactive bool) error {
	stdio := run.IO{Stdout: os.Stdout, Stderr: os.Stderr, Inherited: inheritedCount(c), NoSigProxy: c.IsSet("sig-proxy") && !c.Bool("sig-proxy")}
	if interactive {
		stdio.Stdin = os.Stdin
	}
	// run -a: the streams not named are left out (the log keeps them)
	if streams := c.StringSlice("attach"); c.Command.Name == "run" && len(streams) > 0 {
		has := func(s string) bool {
			return slices.ContainsFunc(streams, func(a string) bool { return strings.EqualFold(a, s) })
		}
		if !has("stdin") {
			stdio.Stdin = nil
		}
		if !has("stdout") && !c.Bool("tty") { // a terminal carries both
			stdio.Stdout = nil
		}
		if !has("stderr") && !c.Bool("tty") {
			stdio.Stderr = nil
		}
	}
	start := run.Start
	if keys, detachable, err := detachKeys(c, ctr, stdio); err != nil {
		return err
	} else if detachable {
		start = func(s *store.Store, ctr *store.Container, stdio run.IO) (int, error) {
			return run.StartAttached(s, ctr, stdio, keys)
		}
	}
	return exited(start(s, ctr, stdio))
}

// detachKeysFlag is --detach-keys of run, start and attach.
func detachKeysFlag() cli.Flag {
	return &cli.StringFlag{Name: "detach-keys", Value: run.DefaultDetachKeys, Usage: "the keys that detach: ctrl-X or characters, comma-separated; empty for none"}
}

// detachKeys reads --detach-keys, and whether the foreground container
// can be detached from: on a terminal, with -i and -t (docker's run -it),
// and with keys to detach with, it runs under its monitor with tug
// attached (run.StartAttached); otherwise tug itself keeps it.
func detachKeys(c *cli.Context, ctr *store.Container, stdio run.IO) ([]byte, bool, error) {
	keys, err := run.ParseDetachKeys(c.String("detach-keys"))
	if err != nil {
		return nil, false, usage(err)
	}
	onTerminal := stdio.Stdin != nil && stdio.Stdout != nil && term.IsTerminal(int(os.Stdin.Fd()))
	return keys, keys != nil && onTerminal && run.Detachable(ctr), nil
}

// create resolves the image (pulling it as --pull says) and records the
// container.
func create(c *cli.Context) (*store.Store, *store.Container, error) {
	if err := needArgs(c, 1, -1); err != nil {
		return nil, nil, err
	}
	s, cfg, err := openStore(c)
	if err != nil {
		return nil, nil, err
	}
	cidfile, err := createCidfile(c.String("cidfile"))
	if err != nil {
		return nil, nil, err
	}
	ref := c.Args().First()
	img, err := image(c, s, registries(cfg), ref)
	if err != nil {
		cidfile.abandon()
		return nil, nil, err
	}
	opt := run.Options{
		Name: c.String("name"), Cmd: c.Args().Tail(), Env: c.StringSlice("env"), EnvFiles: c.StringSlice("env-file"),
		Workdir: c.String("workdir"), User: c.String("user"), Hostname: c.String("hostname"),
		Tty: c.Bool("tty"), Interactive: c.Bool("interactive"), AutoRemove: c.Bool("rm"), Init: c.Bool("init"),
		ReadOnly: c.Bool("read-only"), Volumes: c.StringSlice("volume"), Mounts: c.StringSlice("mount"), VolumesFrom: c.StringSlice("volumes-from"),
		Network: c.String("network"), Publish: c.StringSlice("publish"), Subnet: cfg.Network.Subnet, StrictLimits: cfg.Rootless.StrictLimits,
		StorageDriver: cfg.Rootless.StorageDriver, ForceDriver: c.String("storage-driver"), CgroupManager: cfg.Engine.CgroupManager,
		PublishAll: c.Bool("publish-all"), IP: c.String("ip"), MacAddress: c.String("mac-address"), DNS: c.StringSlice("dns"), DNSSearch: c.StringSlice("dns-search"),
		DNSOptions: c.StringSlice("dns-option"), AddHosts: c.StringSlice("add-host"), Aliases: c.StringSlice("network-alias"), Restart: c.String("restart"), LogOpts: c.StringSlice("log-opt"),
		Labels: c.StringSlice("label"), LogDriver: c.String("log-driver"), TZ: c.String("tz"), Timeout: c.Int("timeout"),
		PreserveFDs: c.Int("preserve-fds"),
		StopSignal:  c.String("stop-signal"), Umask: c.String("umask"),
		EnvHost: c.Bool("env-host"), Annotations: c.StringSlice("annotation"), UTS: c.String("uts"), UserNS: c.String("userns"), IPC: c.String("ipc"), PID: c.String("pid"), NoHosts: c.Bool("no-hosts"), GroupAdd: c.StringSlice("group-add"),
		Health: health.Flags{
			Cmd: c.String("health-cmd"), Interval: c.Duration("health-interval"), Timeout: c.Duration("health-timeout"),
			Retries: c.Int("health-retries"), StartPeriod: c.Duration("health-start-period"), StartInterval: c.Duration("health-start-interval"),
			None: c.Bool("no-healthcheck"), OnFailure: c.String("health-on-failure"),
		},
		Security: run.Security{
			CapAdd: c.StringSlice("cap-add"), CapDrop: c.StringSlice("cap-drop"), Privileged: c.Bool("privileged"),
			SecurityOpts: c.StringSlice("security-opt"), Tmpfs: c.StringSlice("tmpfs"), Ulimits: c.StringSlice("ulimit"),
			Sysctls: c.StringSlice("sysctl"), ShmSize: c.String("shm-size"), OOMScoreAdj: c.Int("oom-score-adj"),
			Devices: c.StringSlice("device"), DeviceRules: c.StringSlice("device-cgroup-rule"),
		},
		Limits: limits(c),
	}
	if c.IsSet("stop-timeout") {
		t := c.Int("stop-timeout")
		opt.StopTimeout = &t
	}
	if c.IsSet("entrypoint") {
		opt.EntrypointSet, opt.Entrypoint = true, []string{c.String("entrypoint")}
	}
	if c.Bool("replace") && opt.Name != "" {
		if err := run.RemoveRef(s, opt.Name, run.RemoveOptions{Force: true}); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, nil, err
		}
	}
	undoPod, err := joinPod(c, s, &opt)
	if err != nil {
		cidfile.abandon()
		return s, nil, err
	}
	ctr, err := run.Create(s, img, ref, opt)
	if err != nil {
		undoPod()
		cidfile.abandon()
		return s, nil, err
	}
	return s, ctr, cidfile.write(ctr.ID)
}

// podAhead starts the infra container of run --pod's pod (one that
// exists) while the container is made and started, whose start waits
// for it; the func it returns waits for that start.
func podAhead(c *cli.Context) (wait func() error) {
	ref := c.String("pod")
	if ref == "" || strings.HasPrefix(ref, "new:") {
		return func() error { return nil }
	}
	s, _, err := openStore(c)
	if err != nil {
		return func() error { return nil }
	}
	p, err := s.LookupPod(ref)
	if err != nil {
		return func() error { return nil } // create says what is wrong
	}
	return pod.StartAhead(s, p)
}

// joinPod makes opt join --pod's pod, made first for new:NAME (with
// the network flags, which are the pod's); the function it returns
// removes a pod it made.
func joinPod(c *cli.Context, s *store.Store, opt *run.Options) (undo func(), err error) {
	ref := c.String("pod")
	undo = func() {}
	if ref == "" {
		return undo, nil
	}
	if !c.IsSet("network") {
		opt.Network = "" // the flag's default is not the user's
	}
	var p *store.Pod
	if name, isNew := strings.CutPrefix(ref, "new:"); isNew {
		if p, err = pod.Create(s, pod.Options{Name: name, Infra: pod.MoveNetwork(opt)}); err != nil {
			return undo, err
		}
		undo = func() { pod.Remove(s, p, true, 0) }
	} else if p, err = s.LookupPod(ref); err != nil {
		return undo, fmt.Errorf("--pod %s: %w", ref, err)
	}
	if err := pod.Join(p, opt); err != nil {
		undo()
		return func() {}, err
	}
	return undo, nil
}

// cidfile is --cidfile's file, made before the container, as docker
// makes it: one that exists already is refused.
type cidfile struct{ f *os.File }

func createCidfile(name string) (cidfile, error) {
	if name == "" {
		return cidfile{}, nil
	}
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, os.ErrExist) {
		return cidfile{}, usage(fmt.Errorf("--cidfile %s: the file exists (another container's?): remove it first", name))
	}
	if err != nil {
		return cidfile{}, usage(fmt.Errorf("--cidfile: %w", err))
	}
	return cidfile{f}, nil
}

// write puts the container's ID in the file.
func (c cidfile) write(id string) error {
	if c.f == nil {
		return nil
	}
	_, err := c.f.WriteString(id)
	if cerr := c.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// abandon removes the file of a container that was not made.
func (c cidfile) abandon() {
	if c.f != nil {
		c.f.Close()
		os.Remove(c.f.Name())
	}
}

// image finds ref in the store, pulling it as --pull says: missing (the
// default) pulls only when absent, with docker's notice on stderr.
func image(c *cli.Context, s *store.Store, regs pull.Registries, ref string) (*store.Image, error) {
	policy, err := pull.ParsePolicy(c.String("pull"))
	if err != nil {
		return nil, err
	}
	img, needed, err := policy.Needed(s, ref)
	if err != nil || !needed {
		return img, err
	}
	opt := pull.Options{Registries: regs}
	if p := c.String("platform"); p != "" {
		if opt.Platform, err = pull.ParsePlatform(p); err != nil {
			return nil, err
		}
	}
	if img == nil {
		canon, err := store.NormalizeName(ref)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(os.Stderr, "Unable to find image '%s' locally\n", canon)
	}
	prog := newProgress(os.Stderr, !isTerminal(os.Stderr), "Pull complete")
	opt.Reporter = prog.reporter()
	img, err = pull.Pull(c.Context, s, ref, opt)
	prog.wait()
	return img, err
}

// limits reads the resource flags.
func limits(c *cli.Context) run.Limits {
	return run.Limits{
		Memory: c.String("memory"), MemoryReservation: c.String("memory-reservation"), MemorySwap: c.String("memory-swap"),
		Cpus: c.String("cpus"), CPUShares: c.Int64("cpu-shares"), CpusetCpus: c.String("cpuset-cpus"),
		CpusetMems: c.String("cpuset-mems"), PidsLimit: c.Int64("pids-limit"), BlkioWeight: c.Int64("blkio-weight"),
		DeviceReadBps: c.StringSlice("device-read-bps"), DeviceWriteBps: c.StringSlice("device-write-bps"),
	}
}

func updateCommand() *cli.Command {
	cmd := containerVerb("update", "change the resource limits of containers", limitFlags(),
		func(c *cli.Context, s *store.Store, ctr *store.Container) error {
			return run.Update(s, ctr, limits(c))
		})
	cmd.Before = inUserNS
	return cmd
}
