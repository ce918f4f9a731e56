package commands

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

func systemCommand() *cli.Command {
	return &cli.Command{
		Name:   "system",
		Before: inUserNS,
		Usage:  "manage tug's store",
		Subcommands: []*cli.Command{
			systemCheckCommand(),
		},
	}
}

func systemCheckCommand() *cli.Command {
	return &cli.Command{
		Name:  "check",
		Usage: "verify the store: blobs against their digests, layers, image and container records, leftovers of killed tugs",
		Description: "Prints a line per problem: ✔ repaired, ✘ not; with the fix after each ✘. " +
			"--repair removes what is safe to remove: leftovers and corrupt blobs, which the next pull of their image fetches again. " +
			"Exits 0 when nothing is left wrong, else 1.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "repair", Aliases: []string{"r"}, Usage: "remove leftovers and corrupt blobs"},
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Usage: "'json' for the findings as JSON"},
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 0, 0); err != nil {
				return err
			}
			s, _, err := openStore(c)
			if err != nil {
				return err
			}
			findings, err := s.Check(c.Bool("repair"))
			if err != nil {
				return err
			}
			left := 0
			for _, f := range findings {
				if f.Repaired == "" {
					left++
				}
			}
			err = printOne(c.App.Writer, c.String("format"), findings, func() error {
				for _, f := range findings {
					mark := "✘"
					if f.Repaired != "" {
						mark = "✔"
					}
					fmt.Fprintf(c.App.Writer, "%s %s\n", mark, f)
				}
				fmt.Fprintf(c.App.Writer, "store %s: %d problems found, %d repaired\n", s.Root(), len(findings), len(findings)-left)
				return nil
			})
			if err != nil {
				return err
			}
			if left > 0 {
				return cli.Exit("", 1)
			}
			return nil
		},
	}
}
