package commands

import (
	"fmt"
	"os"
	"tug/run/doctor"

	"github.com/urfave/cli/v2"
)

func doctorCommand() *cli.Command {
	return &cli.Command{
		Name:  "doctor",
		Usage: "check what tug needs on this host, rootless use included, and say how to fix what is missing",
		Description: "Prints a line per check: ✔ fine, ⚠ not fine but tug falls back, ✘ broken; " +
			"with the fix under each ⚠ and ✘. Exits 0 unless a check is ✘, then 1.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "write the checks as JSON"},
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 0, 0); err != nil {
				return err
			}
			s, cfg, err := openStore(c)
			if err != nil {
				return err
			}
			checks := doctor.Doctor(s, os.Getenv("XDG_RUNTIME_DIR"), cfg.Engine.CgroupManager)
			if c.Bool("json") {
				if err := printJSON(c.App.Writer, checks); err != nil {
					return err
				}
			} else {
				for _, ch := range checks {
					mark := "✔"
					switch {
					case ch.Warning:
						mark = "⚠"
					case !ch.OK:
						mark = "✘"
					}
					fmt.Fprintf(c.App.Writer, "%s %-30s %s\n", mark, ch.Name, ch.Detail)
					if ch.Fix != "" && !ch.OK {
						fmt.Fprintf(c.App.Writer, "    fix: %s\n", ch.Fix)
					}
				}
			}
			for _, ch := range checks {
				if !ch.OK && !ch.Warning {
					return cli.Exit("", 1)
				}
			}
			return nil
		},
	}
}
