package commands

import (
	"errors"
	"fmt"
	"strings"
	"tug/internal/human"
	tugnet "tug/net"
	"tug/run"
	"tug/store"

	"github.com/urfave/cli/v2"
)

func systemCommand() *cli.Command {
	return &cli.Command{
		Name:   "system",
		Before: inUserNS,
		Usage:  "manage tug's store",
		Subcommands: []*cli.Command{
			systemCheckCommand(),
			systemDfCommand(),
			systemPruneCommand(),
			systemServiceCommand(),
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

func systemDfCommand() *cli.Command {
	return &cli.Command{
		Name:  "df",
		Usage: "show the disk space images, containers and volumes use, and what is reclaimable",
		Flags: []cli.Flag{&cli.StringFlag{Name: "format", Usage: "Go template, 'table TEMPLATE' or 'json'"}},
		Action: func(c *cli.Context) error {
			s, _, err := openStore(c)
			if err != nil {
				return err
			}
			use, err := run.DiskUsage(s)
			if err != nil {
				return err
			}
			rows := make([]dfRow, len(use))
			for i, u := range use {
				rows[i] = dfRow{Type: u.Type, TotalCount: u.Total, Active: u.Active, Size: human.Size(u.Size), Reclaimable: human.Size(u.Reclaimable)}
				if u.Size > 0 {
					rows[i].Reclaimable += fmt.Sprintf(" (%d%%)", u.Reclaimable*100/u.Size)
				}
			}
			l := listing{format: c.String("format"), table: "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}",
				headers: map[string]string{"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE", "Reclaimable": "RECLAIMABLE"}}
			return printRows(c, l, rows, func(r dfRow) string { return r.Type }, false)
		},
	}
}

// dfRow is one line of system df, in docker's template names.
type dfRow struct {
	Type        string
	TotalCount  int
	Active      int
	Size        string
	Reclaimable string
}

func systemPruneCommand() *cli.Command {
	return &cli.Command{
		Name:  "prune",
		Usage: "remove stopped containers, unused networks, dangling images (-a: unused ones), build cache and with --volumes unused anonymous volumes",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "every unused image, not only dangling ones"},
			&cli.BoolFlag{Name: "volumes", Usage: "unused anonymous volumes too"},
			forceFlag(),
		},
		Action: func(c *cli.Context) error {
			what := "all stopped containers, all networks not used by at least one container, all dangling images"
			if c.Bool("all") {
				what = "all stopped containers, all networks not used by at least one container, all images without at least one container associated to them"
			}
			if c.Bool("volumes") {
				what += ", all anonymous volumes not used by at least one container"
			}
			what += ", all build cache"
			if err := confirmPrune(c, what); err != nil {
				return err
			}
			s, cfg, err := openStore(c)
			if err != nil {
				return err
			}
			before, err := run.DiskUsage(s)
			if err != nil {
				return err
			}
			var errs []error
			ctrs, bad, err := run.Prune(s)
			warnBad(bad)
			errs = append(errs, err)
			nets, err := tugnet.Prune(s, cfg.Network.Subnet)
			errs = append(errs, err)
			imgs, err := s.PruneImages(c.Bool("all"))
			errs = append(errs, err)
			var vols []string
			if c.Bool("volumes") {
				vols, err = s.PruneVolumes(false, nil)
				errs = append(errs, err)
			}
			_, err = s.PruneBuildCache()
			errs = append(errs, err)
			after, err := run.DiskUsage(s)
			if err != nil {
				return err
			}
			reclaimed := reclaimedSpace(before, after)
			for _, group := range []struct {
				title string
				names []string
			}{{"Deleted Containers", ctrs}, {"Deleted Networks", nets}, {"Deleted Images", imageIDs(imgs)}, {"Deleted Volumes", vols}} {
				if len(group.names) > 0 {
					fmt.Printf("%s:\n%s\n\n", group.title, strings.Join(group.names, "\n"))
				}
			}
			fmt.Printf("Total reclaimed space: %s\n", human.Size(reclaimed))
			return errors.Join(errs...)
		},
	}
}

// reclaimedSpace is how much less the store holds after than before.
func reclaimedSpace(before, after []run.DiskUse) int64 {
	var n int64
	for i := range before {
		n += before[i].Size - after[i].Size
	}
	return n
}

// imageIDs are the IDs of imgs.
func imageIDs(imgs []*store.Image) []string {
	out := make([]string, len(imgs))
	for i, img := range imgs {
		out[i] = img.ID.String()
	}
	return out
}
