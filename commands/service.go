package commands

import (
	"fmt"
	"os"
	"os/signal"
	"os/user"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"tug/api"
	"tug/config"
	"tug/run"
)

// systemServiceCommand is tug system service: the Docker Engine API on
// a socket, until it has been idle for --time.
func systemServiceCommand() *cli.Command {
	return &cli.Command{
		Name:      "service",
		Usage:     "serve the Docker Engine API on a socket, for the docker CLI, docker-compose and testcontainers; exits when idle",
		ArgsUsage: "[unix:///PATH | tcp://HOST:PORT]",
		Description: "Listens on /run/tug/tug.sock as root, or tug.sock in $XDG_RUNTIME_DIR/tug as a user, unless a URI is given, " +
			"or on the socket systemd passes (socket activation, LISTEN_FDS). The socket is 0600: whoever may use it is as good as its owner. " +
			"A TCP listener has no authentication. The service keeps no state: containers it starts run under their monitors after it exits.",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "time", Aliases: []string{"t"}, Value: 5, Usage: "seconds with no request in flight before the service exits; 0 for never"},
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 0, 1); err != nil {
				return err
			}
			if c.Int("time") < 0 {
				return usage(fmt.Errorf("--time %d: want seconds, 0 for never", c.Int("time")))
			}
			s, cfg, err := openStore(c)
			if err != nil {
				return err
			}
			gid := -1
			if name := cfg.Service.Group; name != "" {
				g, err := user.LookupGroup(name)
				if err != nil {
					return fmt.Errorf("[service] group %q: %w", name, err)
				}
				gid, _ = strconv.Atoi(g.Gid)
			}
			l, warning, err := api.Listen(c.Args().First(), config.SocketPath(hostEnv()), gid)
			if err != nil {
				return fmt.Errorf("system service: %w", err)
			}
			if warning != "" {
				fmt.Fprintf(os.Stderr, "tug: warning: %s\n", warning)
			}
			ctx, stop := signal.NotifyContext(c.Context, unix.SIGINT, unix.SIGTERM)
			defer stop()
			v := buildVersion()
			return api.Serve(ctx, l, api.Options{
				Store: s, Registries: registries(cfg), Idle: time.Duration(c.Int("time")) * time.Second,
				Version: v.Version, GitCommit: v.GitCommit, BuildTime: v.BuildTime,
				Defaults: run.Options{
					Subnet: cfg.Network.Subnet, StrictLimits: cfg.Rootless.StrictLimits,
					StorageDriver: cfg.Rootless.StorageDriver, CgroupManager: cfg.Engine.CgroupManager,
				},
			})
		},
	}
}
