package commands

import (
	"fmt"
	"os"
	"os/exec"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"
)

func unshareCommand() *cli.Command {
	return &cli.Command{
		Name:      "unshare",
		Before:    inUserNS,
		Usage:     "run a command in tug's user namespace, to look at or fix the store as the rootless user's root",
		ArgsUsage: "[COMMAND [ARG...]]",
		Description: "As podman unshare: the command runs as root of the namespace tug's rootless commands use, " +
			"where the store's files have their container owners. Without a command, $SHELL (or /bin/sh). " +
			"TUG_ROOT names the store. As root it just runs the command.",
		SkipFlagParsing: true,
		Action: func(c *cli.Context) error {
			s, _, err := openStore(c)
			if err != nil {
				return err
			}
			args := c.Args().Slice()
			if len(args) == 0 {
				args = []string{os.Getenv("SHELL")}
				if args[0] == "" {
					args[0] = "/bin/sh"
				}
			}
			path, err := exec.LookPath(args[0])
			if err != nil {
				return cli.Exit(fmt.Sprintf("unshare: %s", err), 127)
			}
			err = unix.Exec(path, args, append(os.Environ(), "TUG_ROOT="+s.Root()))
			return cli.Exit(fmt.Sprintf("unshare: exec %s: %s", args[0], err), 126)
		},
	}
}
