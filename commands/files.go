package commands

import (
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"tug/build"
	"tug/run"
	"tug/store"
)

// oneContainer opens the store and looks up the first argument.
func oneContainer(c *cli.Context, min, max int) (*store.Store, *store.Container, error) {
	if err := needArgs(c, min, max); err != nil {
		return nil, nil, err
	}
	s, _, err := openStore(c)
	if err != nil {
		return nil, nil, err
	}
	ctr, err := s.LookupContainer(c.Args().First())
	return s, ctr, err
}

func topCommand() *cli.Command {
	return &cli.Command{
		Name:      "top",
		Usage:     "list a container's processes",
		ArgsUsage: "CONTAINER",
		Before:    intoUserNS(func(c *cli.Context) string { return c.Args().First() }),
		Action: func(c *cli.Context) error {
			s, ctr, err := oneContainer(c, 1, 1)
			if err != nil {
				return err
			}
			procs, err := run.Top(s, ctr)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(os.Stdout, 0, 4, 3, ' ', 0)
			fmt.Fprintln(tw, "UID\tPID\tPPID\tCMD")
			for _, p := range procs {
				fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", p.UID, p.PID, p.PPID, p.Cmd)
			}
			return tw.Flush()
		},
	}
}

func cpCommand() *cli.Command {
	return &cli.Command{
		Name:      "cp",
		Usage:     "copy files between a container and the host",
		ArgsUsage: "CONTAINER:SRC DEST|-  or  SRC|- CONTAINER:DEST",
		Before: intoUserNS(func(c *cli.Context) string {
			for _, a := range c.Args().Slice() {
				if ref, _, ok := run.ContainerPath(a); ok {
					return ref
				}
			}
			return ""
		}),
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 2, 2); err != nil {
				return err
			}
			s, _, err := openStore(c)
			if err != nil {
				return err
			}
			return run.Copy(s, c.Args().Get(0), c.Args().Get(1), os.Stdin, os.Stdout)
		},
	}
}

func exportCommand() *cli.Command {
	return &cli.Command{
		Name:      "export",
		Usage:     "write a container's filesystem as a tar archive",
		ArgsUsage: "CONTAINER",
		Before:    intoUserNS(func(c *cli.Context) string { return c.Args().First() }),
		Flags:     []cli.Flag{&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write to FILE instead of stdout"}},
		Action: func(c *cli.Context) error {
			s, ctr, err := oneContainer(c, 1, 1)
			if err != nil {
				return err
			}
			return writeArchive(c, "export", func(w io.Writer) error { return run.Export(s, ctr, w) })
		},
	}
}

func diffCommand() *cli.Command {
	return &cli.Command{
		Name:      "diff",
		Before:    inUserNS,
		Usage:     "list what a container changed in its filesystem",
		ArgsUsage: "CONTAINER",
		Action: func(c *cli.Context) error {
			s, ctr, err := oneContainer(c, 1, 1)
			if err != nil {
				return err
			}
			changes, err := run.Diff(s, ctr)
			for _, ch := range changes {
				fmt.Printf("%s %s\n", ch.Kind, ch.Path)
			}
			return err
		},
	}
}

func commitCommand() *cli.Command {
	return &cli.Command{
		Name:      "commit",
		Before:    inUserNS,
		Usage:     "make an image from a container's changes",
		ArgsUsage: "CONTAINER [REPOSITORY[:TAG]]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "author", Aliases: []string{"a"}, Usage: "author"},
			&cli.StringFlag{Name: "message", Aliases: []string{"m"}, Usage: "commit message"},
			&cli.StringSliceFlag{Name: "change", Aliases: []string{"c"}, Usage: "apply a Dockerfile instruction (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR…) to the image's config"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only the image ID (tug prints nothing else anyway)"},
		},
		Action: func(c *cli.Context) error {
			s, ctr, err := oneContainer(c, 1, 2)
			if err != nil {
				return err
			}
			opt := run.CommitOptions{Author: c.String("author"), Message: c.String("message")}
			if changes := c.StringSlice("change"); len(changes) > 0 {
				if opt.Change, err = build.Changes(changes); err != nil {
					return usage(err)
				}
			}
			if n := c.Args().Get(1); n != "" {
				if opt.Name, err = store.NormalizeName(n); err != nil {
					return err
				}
			}
			img, err := run.Commit(c.Context, s, ctr, opt)
			if err != nil {
				return err
			}
			fmt.Println(img.ID)
			return nil
		},
	}
}

func portCommand() *cli.Command {
	return &cli.Command{
		Name:      "port",
		Before:    inUserNS,
		Usage:     "list a running container's published ports",
		ArgsUsage: "CONTAINER",
		Action: func(c *cli.Context) error {
			s, ctr, err := oneContainer(c, 1, 1)
			if err != nil {
				return err
			}
			ports, err := run.Ports(s, ctr)
			for _, p := range ports {
				fmt.Println(p)
			}
			return err
		},
	}
}
