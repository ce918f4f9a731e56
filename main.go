// Command tug is a daemonless container engine.

// Go's runtime would size GOMAXPROCS from the cgroup's CPU limit, and
// keep the limit's files open for good to follow it: in every tug, the
// container's pid 1 under --init included, whose fds container root can
// reopen for writing through /proc/1/fd. tug has no use for it.
//
//go:debug containermaxprocs=0
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"

	"tug/commands"
	"tug/internal/phase"
	"tug/internal/userns"
	"tug/run"
	"tug/run/child"
	"tug/run/doctor"
)

func main() {
	// The child of a rootless tug waits for its user namespace's maps.
	userns.Continue()
	if os.Getenv(child.RoleArgEnv) != "" {
		os.Args = os.Args[1:] // started by nsenter: the role is argv[1]
	}
	// A re-exec of tug in one of its roles (argv[0]) never reaches the
	// CLI: each role's main exits.
	if role, ok := roles()[os.Args[0]]; ok {
		role()
	}
	// Whatever tug inherited beyond stdio (an fd its caller left open)
	// must reach none of the processes it starts: containers, monitors,
	// helpers. Those get exactly the fds they are handed (--preserve-fds
	// hands on some of those counted here, before tug opens any).
	inherited := inheritedFDs()
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		fmt.Fprintf(os.Stderr, "tug: mark inherited fds close-on-exec: %s\n", err)
		os.Exit(125)
	}
	phases := phase.Open("tug") // make bench's marks; nil without TUG_PHASES
	phases.Mark("main")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := commands.Run(ctx, os.Args, inherited)
	stop()
	phases.Mark("exit")
	phases.Close()
	if err != nil {
		if msg := err.Error(); msg != "" {
			fmt.Fprintf(os.Stderr, "tug: %s\n", msg)
		}
		os.Exit(commands.ExitCode(err))
	}
}

// inheritedFDs counts the fds tug's caller left open from 3 on, without
// a gap.
func inheritedFDs() int {
	n := 0
	for ; n < 1<<16; n++ {
		if _, err := unix.FcntlInt(uintptr(3+n), unix.F_GETFD, 0); err != nil {
			break
		}
	}
	return n
}

// roles are the mains of tug's re-exec roles, by argv[0].
func roles() map[string]func() {
	return map[string]func(){
		child.InitRole:   child.Init,       // the container's child: builds it, execs the entrypoint
		child.ReaperRole: child.Reaper,     // pid 1 under --init
		child.ExecRole:   child.ExecHelper, // joins a container for tug exec
		run.MonitorRole:  run.Monitor,      // keeps a detached container
		doctor.ProbeRole: doctor.Probe,     // doctor's overlay probe in a user namespace
	}
}
