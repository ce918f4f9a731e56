package commands

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"tug/pull"
	"tug/store"
)

func importCommand() *cli.Command {
	return &cli.Command{
		Name:      "import",
		Before:    inUserNS,
		Usage:     "make an image of a filesystem tar (tug export's counterpart)",
		ArgsUsage: "FILE|URL|- [REPOSITORY[:TAG]]",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "change", Aliases: []string{"c"}, Usage: "a Dockerfile instruction: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR, STOPSIGNAL"},
			&cli.StringFlag{Name: "message", Aliases: []string{"m"}, Usage: "the history comment"},
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, 2); err != nil {
				return err
			}
			s, _, err := openStore(c)
			if err != nil {
				return err
			}
			opt := pull.ImportOptions{Changes: c.StringSlice("change"), Message: c.String("message")}
			if n := c.Args().Get(1); n != "" {
				if opt.Name, err = store.NormalizeName(n); err != nil {
					return err
				}
			}
			src := c.Args().First()
			if src == "-" && isTerminal(os.Stdin) {
				return fmt.Errorf("import: no archive on stdin; give a FILE or redirect stdin")
			}
			img, err := pull.Import(c.Context, s, src, os.Stdin, opt)
			if err != nil {
				return err
			}
			fmt.Println(img.ID)
			return nil
		},
	}
}
