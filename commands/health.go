package commands

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"tug/run"
)

// healthcheckCommand is podman's tug healthcheck run.
func healthcheckCommand() *cli.Command {
	return &cli.Command{
		Name:  "healthcheck",
		Usage: "run a container's healthcheck",
		Subcommands: []*cli.Command{{
			Name: "run",
			// the probe runs as exec does, from the container's keeper's
			// user namespace
			Before:    intoUserNS(func(c *cli.Context) string { return c.Args().First() }),
			Usage:     "run the healthcheck of a running container once: exit 0 if it passes, 1 (and print unhealthy) if not",
			ArgsUsage: "CONTAINER",
			Action: func(c *cli.Context) error {
				s, ctr, err := oneContainer(c, 1, 1)
				if err != nil {
					return err
				}
				r, err := run.Healthcheck(s, ctr)
				if err != nil {
					return err
				}
				if r.ExitCode != 0 {
					fmt.Println("unhealthy")
					return coded{errors.New(""), 1} // the word says it
				}
				return nil
			},
		}},
	}
}
