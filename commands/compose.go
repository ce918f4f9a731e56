package commands

import (
	"os"
	"slices"

	"github.com/urfave/cli/v2"

	"tug/compose"
	"tug/compose/plan"
)

func composeCommand() *cli.Command {
	return &cli.Command{
		Name:  "compose",
		Usage: "run multi-container apps from compose files",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "file", Aliases: []string{"f"}, Usage: "compose file (default: compose.yaml, compose.yml, docker-compose.yaml or .yml, with its override file)"},
			&cli.StringFlag{Name: "project-name", Aliases: []string{"p"}, Usage: "project name (default: the directory's)"},
			&cli.StringSliceFlag{Name: "profile", Usage: "enable the services of a profile"},
			&cli.StringSliceFlag{Name: "env-file", Usage: "read variables for interpolation from a file (default: .env)"},
			&cli.StringFlag{Name: "project-directory", Usage: "the project's directory (default: the first file's)"},
		},
		Subcommands: composeCommands(),
	}
}

// composeProject is how the compose command's flags name its project.
func composeProject(c *cli.Context) plan.Options {
	return plan.Options{
		Files: c.StringSlice("file"), ProjectDir: c.String("project-directory"), Name: c.String("project-name"),
		Profiles: c.StringSlice("profile"), EnvFiles: c.StringSlice("env-file"), Env: os.Environ(),
	}
}

func composeConfigCommand() *cli.Command {
	return &cli.Command{
		Name:  "config",
		Usage: "check the compose files and print the project's resolved model",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Value: "yaml", Usage: "yaml or json"},
			&cli.BoolFlag{Name: "services", Usage: "print only the services' names"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only check: print nothing"},
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 0, 0); err != nil {
				return err
			}
			out, err := compose.Config(composeProject(c), c.String("format"), c.Bool("services"))
			if err != nil {
				return usage(err)
			}
			if !c.Bool("quiet") {
				os.Stdout.Write(out)
			}
			return nil
		},
	}
}

// composeCommands are compose's verbs. Like their tug counterparts,
// exec, stop and kill run as a rootless user on the host (they reach
// the containers' own user namespaces); the others in tug's.
func composeCommands() []*cli.Command {
	cmds := append([]*cli.Command{composeConfigCommand(), composeUpCommand(), composeDownCommand(), composePsCommand(),
		composeLogsCommand(), composeStartCommand(), composeExecCommand(), composeRunCommand(), composeBuildCommand(), composePullCommand(),
		composePushCommand(), composeImagesCommand(), composeTopCommand(), composePortCommand(), composeEventsCommand()}, composeVerbs()...)
	for _, cmd := range cmds {
		if !slices.Contains([]string{"exec", "stop", "kill"}, cmd.Name) {
			cmd.Before = inUserNS
		}
	}
	return cmds
}
