package commands

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"tug/store"
)

func volumeCommand() *cli.Command {
	return &cli.Command{
		Name:   "volume",
		Before: inUserNS,
		Usage:  "manage volumes: data that outlives containers",
		Subcommands: []*cli.Command{
			existsCommand("volume"),
			{
				Name: "create", Usage: "create a volume (a generated name when none is given)", ArgsUsage: "[NAME]",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "driver", Aliases: []string{"d"}, Value: "local", Usage: "local"},
					&cli.StringSliceFlag{Name: "label", Usage: "K=V"},
					&cli.StringSliceFlag{Name: "opt", Aliases: []string{"o"}, Usage: "driver options (type=, o=, device=)"},
				},
				Action: volumeCreate,
			},
			{
				Name: "ls", Aliases: []string{"list"}, Usage: "list volumes",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only show names"},
					&cli.StringSliceFlag{Name: "filter", Aliases: []string{"f"}, Usage: "name=, label=K[=V], driver=, dangling=true|false"},
					&cli.StringFlag{Name: "format", Usage: "Go template, 'table TEMPLATE' or 'json'"},
					noHeadingFlag(),
				},
				Action: volumeList,
			},
			{
				Name: "inspect", Usage: "show details of volumes as JSON", ArgsUsage: "VOLUME [VOLUME...]",
				Flags:  []cli.Flag{&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Usage: "Go template applied to each volume"}},
				Action: volumeInspect,
			},
			{
				Name: "rm", Aliases: []string{"remove"}, Usage: "remove volumes no container uses", ArgsUsage: "VOLUME [VOLUME...]",
				Flags:  []cli.Flag{&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "say nothing of volumes that do not exist"}},
				Action: volumeRemove,
			},
			{
				Name: "prune", Usage: "remove unused anonymous volumes (-a: every unused one)",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "named volumes too"},
					forceFlag(),
					&cli.StringSliceFlag{Name: "filter", Usage: "label=K[=V]"},
				},
				Action: volumePrune,
			},
			{
				Name: "export", Usage: "write a volume's content as a tar (stdout by default)", ArgsUsage: "VOLUME",
				Flags:  []cli.Flag{&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write to FILE"}},
				Action: volumeExport,
			},
			{Name: "import", Usage: "unpack a tar (a file, or - for stdin) into a volume", ArgsUsage: "VOLUME FILE|-", Action: volumeImport},
		},
	}
}

func volumeCreate(c *cli.Context) error {
	if err := needArgs(c, 0, 1); err != nil {
		return err
	}
	if d := c.String("driver"); d != "local" {
		return usage(fmt.Errorf("volume create --driver %q: tug has the local driver only", d))
	}
	s, _, err := openStore(c)
	if err != nil {
		return err
	}
	v := &store.Volume{Name: c.Args().First(), Driver: "local", Labels: keyValues(c.StringSlice("label")), Options: keyValues(c.StringSlice("opt"))}
	if v.Name == "" {
		if v.Name, err = store.NewContainerID(); err != nil {
			return err
		}
	}
	if v, err = s.CreateVolume(v); err != nil {
		return err
	}
	fmt.Println(v.Name)
	return nil
}

// keyValues reads K=V flags (K alone: an empty value).
func keyValues(kvs []string) map[string]string {
	if len(kvs) == 0 {
		return nil
	}
	out := map[string]string{}
	for _, kv := range kvs {
		k, v, _ := strings.Cut(kv, "=")
		out[k] = v
	}
	return out
}

func volumeList(c *cli.Context) error {
	s, _, err := openStore(c)
	if err != nil {
		return err
	}
	vols, err := s.Volumes()
	if err != nil {
		return err
	}
	if vols, err = s.SelectVolumes(vols, c.StringSlice("filter")); err != nil {
		return err
	}
	views := make([]store.VolumeView, len(vols))
	for i, v := range vols {
		views[i] = s.View(v)
	}
	l := listing{format: c.String("format"), table: "table {{.Driver}}\t{{.Name}}",
		headers: map[string]string{"Driver": "DRIVER", "Name": "VOLUME NAME", "Mountpoint": "MOUNTPOINT", "Scope": "SCOPE", "CreatedAt": "CREATED AT"}}
	return printRows(c, l, views, func(v store.VolumeView) string { return v.Name }, false)
}

func volumeInspect(c *cli.Context) error {
	return inspect(c, "volume")
}

func volumeRemove(c *cli.Context) error {
	if err := needArgs(c, 1, -1); err != nil {
		return err
	}
	s, _, err := openStore(c)
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range c.Args().Slice() {
		err := s.RemoveVolume(name)
		if errors.Is(err, store.ErrNotFound) && c.Bool("force") {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Println(name)
	}
	return errors.Join(errs...)
}

func volumePrune(c *cli.Context) error {
	what := "all anonymous local volumes not used by at least one container"
	if c.Bool("all") {
		what = "all local volumes not used by at least one container"
	}
	if err := confirmPrune(c, what); err != nil {
		return err
	}
	s, _, err := openStore(c)
	if err != nil {
		return err
	}
	removed, err := s.PruneVolumes(c.Bool("all"), c.StringSlice("filter"))
	for _, name := range removed {
		fmt.Println(name)
	}
	return err
}

func volumeExport(c *cli.Context) error {
	if err := needArgs(c, 1, 1); err != nil {
		return err
	}
	s, _, err := openStore(c)
	if err != nil {
		return err
	}
	return writeArchive(c, "volume export", func(w io.Writer) error { return s.ExportVolume(c.Args().First(), w) })
}

func volumeImport(c *cli.Context) error {
	if err := needArgs(c, 2, 2); err != nil {
		return err
	}
	s, _, err := openStore(c)
	if err != nil {
		return err
	}
	in := os.Stdin
	if p := c.Args().Get(1); p != "-" {
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("volume import: %w", err)
		}
		defer f.Close()
		in = f
	}
	return s.ImportVolume(c.Args().First(), in)
}
