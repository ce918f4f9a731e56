// Package commands is tug's command line: one file per verb or verb
// group. Each verb parses its flags, makes one library call and prints
// the result; the work happens in run, net, pull and store.
package commands

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"tug/config"
	"tug/internal/userns"
	"tug/run"
	"tug/store"
)

// Version is tug's version, set at build time with -ldflags.
var Version = "0.1.0-dev"

// Run runs tug's command line on args (os.Args) and returns what main
// turns into the exit code (ExitCode). inherited is how many fds from 3
// on tug's caller left open, which --preserve-fds may hand on.
func Run(ctx context.Context, args []string, inherited int) error {
	var unknown error
	app := App()
	app.Metadata = map[string]any{inheritedKey: inherited}
	// urfave answers an unknown command (tug bogus, tug help bogus,
	// tug network bogus) through this hook, which cannot return an error
	app.CommandNotFound = func(c *cli.Context, name string) {
		unknown = unknownCommand(c, name)
	}
	if err := app.RunContext(ctx, interspersed(app, args)); err != nil {
		return err
	}
	return unknown
}

// inheritedKey is where App's Metadata keeps Run's inherited.
const inheritedKey = "inherited-fds"

// inheritedCount is Run's inherited: how many fds from 3 on tug's caller
// left open.
func inheritedCount(c *cli.Context) int {
	n, _ := c.App.Metadata[inheritedKey].(int)
	return n
}

// unknownCommand is the usage error for a command tug does not have.
func unknownCommand(c *cli.Context, name string) error {
	parent := "tug"
	if c.Command != nil && c.Command.Name != "" && c.Command.Name != "help" {
		parent = strings.TrimSpace(c.Command.HelpName)
	}
	return usage(fmt.Errorf("unknown command %q (see '%s --help')", name, parent))
}

// App returns the tug command line.
func App() *cli.App {
	app := &cli.App{
		Name:                 "tug",
		Usage:                "a daemonless container engine",
		Version:              Version,
		EnableBashCompletion: true,
		// --mount type=bind,src=… and -e A=1,2 keep their commas.
		DisableSliceFlagSeparator: true,
		HideVersion:               true,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "root", Usage: "store directory (default /var/lib/tug, rootless ~/.local/share/tug)"},
			&cli.StringFlag{Name: "runroot", Usage: "runtime state directory (default /run/tug, rootless $XDG_RUNTIME_DIR/tug)"},
			&cli.StringFlag{Name: "config", EnvVars: []string{"TUG_CONFIG"}, Usage: "config file (default /etc/tug/config.toml, rootless ~/.config/tug/config.toml)"},
			&cli.StringFlag{Name: "log-level", Value: "warn", Usage: "debug, info, warn or error"},
			&cli.StringFlag{Name: "storage-driver", Usage: "overlay, or vfs (a copy of the image per container) for new containers"},
			&cli.BoolFlag{Name: "noout", Usage: "send what commands print to stdout to /dev/null"},
		},
		Before: before,
		Commands: []*cli.Command{
			runCommand(),
			createCommand(),
			startCommand(),
			psCommand(),
			stopCommand(),
			killCommand(),
			rmCommand(),
			restartCommand(),
			pauseCommand(),
			unpauseCommand(),
			mountCommand(),
			umountCommand(),
			healthcheckCommand(),
			eventsCommand(),
			waitCommand(),
			logsCommand(),
			execCommand(),
			attachCommand(),
			topCommand(),
			statsCommand(),
			updateCommand(),
			cpCommand(),
			exportCommand(),
			diffCommand(),
			commitCommand(),
			buildCommand(),
			builderCommand(),
			portCommand(),
			renameCommand(),
			containerCommand(),
			podCommand(),
			kubeCommand(),
			composeCommand(),
			networkCommand(),
			volumeCommand(),
			pullCommand(),
			pushCommand(),
			imagesCommand(),
			rmiCommand(),
			tagCommand(),
			inspectCommand(),
			historyCommand(),
			saveCommand(),
			loadCommand(),
			importCommand(),
			imageCommand(),
			loginCommand(),
			logoutCommand(),
			infoCommand(),
			doctorCommand(),
			systemCommand(),
			unshareCommand(),
			versionCommand(),
			completionCommand(),
		},
		ExitErrHandler: func(*cli.Context, error) {}, // main decides exit codes
		OnUsageError:   usageError,
	}
	for _, c := range app.Commands {
		setUsageError(c)
	}
	return app
}

// setUsageError gives every command tug's usage errors, and docker's
// combined short flags (ps -aq, rm -fv, run -it).
func setUsageError(c *cli.Command) {
	c.OnUsageError = usageError
	c.UseShortOptionHandling = true
	for _, sub := range c.Subcommands {
		setUsageError(sub)
	}
}

// usageError turns a flag error into tug's one-line form with a hint:
// "tug: images: flag provided but not defined: -x (see 'tug images
// --help')"; main adds the first "tug: ".
func usageError(c *cli.Context, err error, _ bool) error {
	help := helpName(c)
	if verb := strings.TrimPrefix(help, "tug "); verb != help {
		err = fmt.Errorf("%s: %w", verb, err)
	}
	return usage(fmt.Errorf("%w (see '%s --help')", err, help))
}

// helpName is the command's full name, "tug images", or "tug" for the
// global flags.
func helpName(c *cli.Context) string {
	if c.Command != nil && c.Command.Name != "" {
		return strings.TrimSpace(c.Command.HelpName)
	}
	return "tug"
}

// coded is an error with the exit code it ends tug with.
type coded struct {
	error
	code int
}

func (c coded) Unwrap() error { return c.error }

// ExitCode implements the interface main reads exit codes through.
func (c coded) ExitCode() int { return c.code }

// usage marks a usage error: a bad command, flag or argument count. It
// exits 125, as podman's do (and docker's for flags).
func usage(err error) error { return coded{err, 125} }

// tugFailed marks err as tug's own failure (125), unless it carries a
// code of its own: what stops run or create before the container runs,
// a missing image included, as in docker.
func tugFailed(err error) error {
	var coder interface{ ExitCode() int }
	if err == nil || errors.As(err, &coder) {
		return err
	}
	return coded{err, 125}
}

// before sets the log level and checks the global flags. How a
// rootless tug runs a command is the command's own Before: inUserNS for
// those that touch the store or containers, intoUserNS or stopOutside
// for those that pick a namespace themselves, none for those that run as
// the user itself (version, doctor, login, exec, stop, kill…).
func before(c *cli.Context) error {
	if err := setLogLevel(c); err != nil {
		return coded{err, 1} // as docker's
	}
	if d := c.String("storage-driver"); d != "" && d != run.DriverOverlay && d != "vfs" {
		return usage(fmt.Errorf("--storage-driver %q: want overlay or vfs", d))
	}
	if c.Bool("noout") {
		if err := discardStdout(); err != nil {
			return err
		}
	}
	return nil
}

// inUserNS is the Before of the commands that touch the store or
// containers: for an unprivileged user, tug runs again in its user
// namespace (see internal/userns).
func inUserNS(c *cli.Context) error {
	if os.Geteuid() == 0 {
		return nil
	}
	return enterUserNS(c)
}

// intoUserNS is the Before of commands that work on one container's
// files, processes or network namespace, for a rootless user: a running
// container's are reachable only from its own user namespace (or, with
// --userns keep-id, its keeper's), which tug joins; otherwise tug makes a
// fresh one, as for every other command.
// ref picks the container from the arguments ("" for none).
func intoUserNS(ref func(c *cli.Context) string) cli.BeforeFunc {
	return func(c *cli.Context) error {
		if os.Geteuid() == 0 {
			return nil
		}
		if name := ref(c); name != "" {
			if s, _, err := openStore(c); err == nil {
				if ctr, err := s.LookupContainer(name); err == nil {
					if pid, ok := run.UserNSHolder(s, ctr); ok {
						return userns.Join(pid, inheritedCount(c))
					}
				}
			}
		}
		return enterUserNS(c)
	}
}

// enterUserNS runs this tug again in its user namespace and exits with
// its status; it returns only an error that says how to fix the host.
func enterUserNS(c *cli.Context) error {
	acc, err := userns.Self()
	if err != nil {
		return err
	}
	return userns.Enter(acc, func(w string) { fmt.Fprintln(os.Stderr, "tug: "+w) }, inheritedCount(c))
}

// discardStdout points fd 1 at /dev/null (--noout): whatever writes
// to stdout, tug or a container in the foreground, writes nowhere.
func discardStdout() error {
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer null.Close()
	return unix.Dup3(int(null.Fd()), 1, 0)
}

func setLogLevel(c *cli.Context) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", c.String("log-level"))
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})))
	return nil
}

// hostEnv is the environment the config's defaults depend on, with the
// user's own ID also inside tug's user namespace.
func hostEnv() config.Env {
	env := config.OSEnv()
	env.Geteuid = userns.HostUID
	return env
}

// warnRuntimeDir tells a rootless user whose XDG_RUNTIME_DIR is not its
// own (su and sudo keep the other user's) where tug keeps its state.
func warnRuntimeDir(env config.Env) {
	if d := env.Getenv("XDG_RUNTIME_DIR"); d != "" && userns.Rootless() && !env.Owned(d) {
		fmt.Fprintf(os.Stderr, "tug: warning: XDG_RUNTIME_DIR=%s is not a directory of this user's: using %s\n", d, config.RuntimeDir(env))
	}
}

// loadConfig reads the config file named by --config, TUG_CONFIG or the
// default path, then applies --root and --runroot over it.
func loadConfig(c *cli.Context) (config.Config, error) {
	env := hostEnv()
	path, explicit := c.String("config"), true
	if path == "" {
		path, explicit = config.DefaultPath(env), false
	}
	cfg, err := config.Load(path, explicit, env)
	if err != nil {
		return cfg, err
	}
	if r := c.String("root"); r != "" {
		cfg.Storage.Root = r
	}
	if r := c.String("runroot"); r != "" {
		cfg.Storage.RunRoot = r
	} else if cfg.Storage.RunRoot == config.RuntimeDir(env) {
		warnRuntimeDir(env)
	}
	return cfg, nil
}

// openStore loads the config and opens the store it names.
func openStore(c *cli.Context) (*store.Store, config.Config, error) {
	cfg, err := loadConfig(c)
	if err != nil {
		return nil, cfg, err
	}
	s, err := store.Open(cfg.Storage.Root, cfg.Storage.RunRoot)
	return s, cfg, err
}

// ExitCode maps an error from App to the process exit code, docker's
// (README, "Exit codes"): the error's own code if it has one (a usage
// error, a container's status), 1 for an object that does not exist or
// a request refused for the object's state (one in use included), 125
// when tug itself failed.
func ExitCode(err error) int {
	var coder interface{ ExitCode() int }
	if errors.As(err, &coder) {
		return coder.ExitCode()
	}
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, run.ErrConflict) || errors.Is(err, store.ErrInUse) {
		return 1
	}
	return 125
}

// needArgs checks the number of positional arguments.
func needArgs(c *cli.Context, min, max int) error {
	n := c.NArg()
	if n >= min && (max < 0 || n <= max) {
		return nil
	}
	want := fmt.Sprintf("%d", min)
	switch {
	case max < 0:
		want = fmt.Sprintf("at least %d", min)
	case max != min:
		want = fmt.Sprintf("%d to %d", min, max)
	}
	help := helpName(c)
	return usage(fmt.Errorf("%s: wants %s argument(s), got %d (see '%s --help')", strings.TrimPrefix(help, "tug "), want, n, help))
}

// configBase is what every container tug makes past run's own gets
// from the config and --storage-driver: those of builds, kube play and
// compose.
func configBase(c *cli.Context, cfg config.Config) run.Options {
	return run.Options{Subnet: cfg.Network.Subnet, StrictLimits: cfg.Rootless.StrictLimits, StorageDriver: cfg.Rootless.StorageDriver,
		ForceDriver: c.String("storage-driver"), CgroupManager: cfg.Engine.CgroupManager}
}
