// Command tug is a daemonless container engine.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"tug/commands"
	"tug/run"
	"tug/store/userns"
)

func main() {
	// The child of a rootless tug waits for its user namespace's maps.
	userns.Continue()
	if os.Getenv(run.RoleArgEnv) != "" {
		os.Args = os.Args[1:] // started by nsenter: the role is argv[1]
	}
	// A re-exec of tug in a container role never reaches the CLI.
	switch os.Args[0] {
	case run.InitRole:
		run.Init()
	case run.MonitorRole:
		run.Monitor()
	case run.ExecRole:
		run.ExecHelper()
	case run.ProbeRole:
		run.Probe()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := commands.Run(ctx, os.Args)
	stop()
	if err != nil {
		if msg := err.Error(); msg != "" {
			fmt.Fprintf(os.Stderr, "tug: %s\n", msg)
		}
		os.Exit(commands.ExitCode(err))
	}
}
