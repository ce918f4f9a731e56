package commands

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"tug/config"
	"tug/internal/human"
	"tug/run"
	"tug/store"
)

// imageCommand is `tug image …`, docker's management form of the image
// verbs.
func imageCommand() *cli.Command {
	ls := imagesCommand()
	ls.Name, ls.Aliases = "ls", []string{"list"}
	rm := rmiCommand()
	rm.Name = "rm"
	return &cli.Command{
		Name:   "image",
		Before: inUserNS,
		Usage:  "manage images",
		Subcommands: []*cli.Command{
			ls, pullCommand(), pushCommand(), rm, tagCommand(), imageInspectCommand(),
			historyCommand(), saveCommand(), loadCommand(), imagePruneCommand(), buildCommand(), existsCommand("image"),
		},
	}
}

func rmiCommand() *cli.Command {
	return &cli.Command{
		Name:      "rmi",
		Before:    inUserNS,
		Usage:     "remove images",
		ArgsUsage: "IMAGE [IMAGE...]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "remove the image even if it has other names or a container uses it"},
			&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "every image"},
			&cli.BoolFlag{Name: "ignore", Aliases: []string{"i"}, Usage: "say nothing of images that do not exist"},
		},
		Action: rmi,
	}
}

func rmi(c *cli.Context) error {
	refs := c.Args().Slice()
	if err := needArgs(c, 1, -1); err != nil && !c.Bool("all") {
		return err
	}
	s, _, err := openStore(c)
	if err != nil {
		return err
	}
	if c.Bool("all") {
		if err := needArgs(c, 0, 0); err != nil {
			return err
		}
		imgs, err := s.Images()
		if err != nil {
			return err
		}
		for _, img := range imgs {
			refs = append(refs, img.ID.Hex)
		}
	}
	var errs []error
	for _, ref := range refs {
		res, err := s.RemoveImage(ref, c.Bool("force"))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, n := range res.Untagged {
			fmt.Printf("Untagged: %s\n", n)
		}
		if res.Deleted != nil {
			fmt.Printf("Deleted: %s\n", res.Deleted.ID)
		}
	}
	return ignoreMissing(c, errors.Join(errs...))
}

func tagCommand() *cli.Command {
	return &cli.Command{
		Name:      "tag",
		Before:    inUserNS,
		Usage:     "give an image other names",
		ArgsUsage: "SOURCE_IMAGE TARGET_IMAGE[:TAG] [TARGET_IMAGE[:TAG]...]",
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 2, -1); err != nil {
				return err
			}
			s, _, err := openStore(c)
			if err != nil {
				return err
			}
			for _, target := range c.Args().Slice()[1:] {
				if err := s.Tag(c.Args().First(), target); err != nil {
					return err
				}
			}
			return nil
		},
	}
}

func inspectFlags() []cli.Flag {
	return []cli.Flag{&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Usage: "Go template applied to each object"}}
}

func imageInspectCommand() *cli.Command {
	return &cli.Command{
		Name:      "inspect",
		Before:    inUserNS,
		Usage:     "show details of images as JSON",
		ArgsUsage: "IMAGE [IMAGE...]",
		Flags:     inspectFlags(),
		Action:    func(c *cli.Context) error { return inspect(c, "image") },
	}
}

// inspectCommand is `tug inspect`: containers first, then images,
// networks and volumes, as docker looks them up; --type one of them.
func inspectCommand() *cli.Command {
	cmd := imageInspectCommand()
	cmd.Usage = "show details of containers, images, networks or volumes as JSON"
	cmd.ArgsUsage = "NAME|ID [NAME|ID...]"
	cmd.Flags = append(cmd.Flags, &cli.StringFlag{Name: "type", Usage: "only objects of this type: container, image, network, volume or pod"}, sizeFlag())
	cmd.Action = func(c *cli.Context) error {
		kinds := []string{"container", "image", "network", "volume", "pod"}
		if t := c.String("type"); t != "" {
			if !slices.Contains(kinds, t) {
				return usage(fmt.Errorf("inspect --type %q: want container, image, network, volume or pod", t))
			}
			kinds = []string{t}
		}
		return inspect(c, kinds...)
	}
	return cmd
}

func inspect(c *cli.Context, kinds ...string) error {
	size := c.Bool("size")
	return inspectEach(c, func(s *store.Store, cfg config.Config, ref string) (any, error) {
		return inspectOne(s, cfg, ref, kinds, size)
	})
}

// sizeFlag is inspect's --size, a container's SizeRw and SizeRootFs.
func sizeFlag() cli.Flag {
	return &cli.BoolFlag{Name: "size", Aliases: []string{"s"}, Usage: "add a container's SizeRw and SizeRootFs"}
}

// inspectEach prints the views one finds for each argument, as docker
// inspect does: the views it found, then every lookup's error.
func inspectEach(c *cli.Context, one func(s *store.Store, cfg config.Config, ref string) (any, error)) error {
	if err := needArgs(c, 1, -1); err != nil {
		return err
	}
	s, cfg, err := openStore(c)
	if err != nil {
		return err
	}
	var views []any
	var errs []error
	for _, ref := range c.Args().Slice() {
		v, err := one(s, cfg, ref)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		views = append(views, v)
	}
	if err := printInspect(c.App.Writer, c.String("format"), views); err != nil {
		return err
	}
	return errors.Join(errs...)
}

// inspectOne is the view of the first object of the kinds (in order)
// that ref names.
func inspectOne(s *store.Store, cfg config.Config, ref string, kinds []string, size bool) (any, error) {
	for _, kind := range kinds {
		var v any
		var err error
		switch kind {
		case "container":
			var ctr *store.Container
			if ctr, err = s.LookupContainer(ref); err == nil {
				var ci *run.ContainerInspect
				if ci, err = run.Inspect(s, ctr); err == nil && size {
					rw, rootfs := run.Size(s, ctr)
					ci.SizeRw, ci.SizeRootFs = &rw, &rootfs
				}
				v = ci
			}
		case "image":
			var img *store.Image
			if img, err = s.LookupImage(ref); err == nil {
				v, err = s.Inspect(img)
			}
		case "network":
			v, err = networkViewOf(s, cfg, ref)
		case "volume":
			var vol *store.Volume
			if vol, err = s.LookupVolume(ref); err == nil {
				v = s.View(vol)
			}
		case "pod":
			v, err = inspectPod(s, ref)
		}
		if len(kinds) == 1 || !errors.Is(err, store.ErrNotFound) {
			return v, err
		}
	}
	return nil, &store.NoSuch{Kind: "object", Name: ref}
}

// historyRow is one line of `tug history`.
type historyRow struct {
	ID           string
	Created      string // podman's name for CreatedSince
	CreatedSince string
	CreatedAt    string
	CreatedBy    string
	Size         string
	Comment      string
	Digest       string            // the image's, as podman shows it
	Labels       map[string]string // the image's
}

func historyCommand() *cli.Command {
	return &cli.Command{
		Name:      "history",
		Before:    inUserNS,
		Usage:     "show how an image was built",
		ArgsUsage: "IMAGE",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only show IDs"},
			&cli.BoolFlag{Name: "no-trunc", Usage: "do not truncate output"},
			&cli.StringFlag{Name: "format", Usage: "Go template, 'table TEMPLATE' or 'json'"},
			noHeadingFlag(),
		},
		Action: history,
	}
}

func history(c *cli.Context) error {
	if err := needArgs(c, 1, 1); err != nil {
		return err
	}
	s, _, err := openStore(c)
	if err != nil {
		return err
	}
	img, err := s.LookupImage(c.Args().First())
	if err != nil {
		return err
	}
	entries, err := s.History(img)
	if err != nil {
		return err
	}
	var labels map[string]string
	if cfg, err := s.Config(img); err == nil {
		labels = cfg.Config.Labels
	}
	var rows []historyRow
	for _, e := range entries {
		r := historyRow{ID: e.ID, CreatedSince: human.Ago(e.Created), CreatedAt: e.Created.Format("2006-01-02T15:04:05Z07:00"),
			CreatedBy: e.CreatedBy, Size: human.Size(e.Size), Comment: e.Comment, Digest: img.Manifest.String(), Labels: labels}
		r.Created = r.CreatedSince
		if !c.Bool("no-trunc") {
			if strings.HasPrefix(r.ID, "sha256:") {
				r.ID = r.ID[7:19]
			}
			if len(r.CreatedBy) > 45 {
				r.CreatedBy = r.CreatedBy[:44] + "…"
			}
		}
		rows = append(rows, r)
	}
	l := listing{format: c.String("format"),
		table: "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}",
		headers: map[string]string{"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT",
			"CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT"}}
	return printRows(c, l, rows, func(r historyRow) string { return r.ID }, false)
}

func imagePruneCommand() *cli.Command {
	return &cli.Command{
		Name:   "prune",
		Before: inUserNS,
		Usage:  "remove dangling images (with -a, every image no container uses)",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "remove all unused images, not just dangling ones"},
			forceFlag(),
		},
		Action: func(c *cli.Context) error {
			what := "all dangling images"
			if c.Bool("all") {
				what = "all images without at least one container associated to them"
			}
			if err := confirmPrune(c, what); err != nil {
				return err
			}
			s, _, err := openStore(c)
			if err != nil {
				return err
			}
			gone, err := s.PruneImages(c.Bool("all"))
			var total int64
			for _, img := range gone {
				for _, n := range img.Names {
					fmt.Printf("untagged: %s\n", n)
				}
				fmt.Printf("deleted: %s\n", img.ID)
				total += img.Size
			}
			fmt.Printf("Total reclaimed space: %s\n", human.Size(total))
			return err
		},
	}
}

// existsCommand is podman's KIND exists NAME: exit 0 if there is one,
// 1 if not, with no output.
func existsCommand(kind string) *cli.Command {
	return &cli.Command{
		Name:      "exists",
		Before:    inUserNS,
		Usage:     "exit 0 if the " + kind + " exists, 1 if not",
		ArgsUsage: strings.ToUpper(kind),
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, 1); err != nil {
				return err
			}
			s, cfg, err := openStore(c)
			if err != nil {
				return err
			}
			_, err = inspectOne(s, cfg, c.Args().First(), []string{kind}, false)
			if errors.Is(err, store.ErrNotFound) {
				return coded{errors.New(""), 1}
			}
			return err
		},
	}
}
