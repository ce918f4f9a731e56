package commands

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/urfave/cli/v2"

	"tug/internal/human"
	"tug/store"
)

// imageRow is one line of `tug images`; its fields are what --format
// templates and json see, named as docker names them.
type imageRow struct {
	Repository   string
	Tag          string
	ID           string
	Digest       string
	Created      string // podman's name for CreatedSince
	CreatedSince string
	CreatedAt    string
	Size         string
	Labels       map[string]string // podman's
	created      time.Time
	size         int64
}

func imagesCommand() *cli.Command {
	return &cli.Command{
		Name:      "images",
		Before:    inUserNS,
		Usage:     "list images",
		ArgsUsage: "[REPOSITORY[:TAG]]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "show build cache (tug build's steps) too"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only show image IDs"},
			&cli.BoolFlag{Name: "digests", Usage: "show digests"},
			&cli.BoolFlag{Name: "no-trunc", Usage: "do not truncate IDs"},
			&cli.StringFlag{Name: "format", Usage: "Go template, 'table TEMPLATE' or 'json'"},
			&cli.StringFlag{Name: "sort", Value: "created", Usage: "order by created (newest first), id, repository, size or tag"},
			noHeadingFlag(),
		},
		Action: images,
	}
}

func images(c *cli.Context) error {
	if err := needArgs(c, 0, 1); err != nil {
		return err
	}
	s, _, err := openStore(c)
	if err != nil {
		return err
	}
	imgs, err := s.Images()
	if err != nil {
		return err
	}
	if !c.Bool("all") {
		imgs = slices.DeleteFunc(imgs, (*store.Image).Hidden) // build cache
	}
	labels := map[v1.Hash]map[string]string{}
	for _, img := range imgs {
		if cfg, err := s.Config(img); err == nil {
			labels[img.ID] = cfg.Config.Labels
		}
	}
	rows := imageRows(imgs, labels, c.Args().First(), c.Bool("no-trunc"))
	if err := sortImages(rows, c.String("sort")); err != nil {
		return err
	}
	table := "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
	if c.Bool("digests") {
		table = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
	}
	l := listing{format: c.String("format"), table: table, headers: map[string]string{
		"Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID", "Digest": "DIGEST",
		"CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE",
	}}
	return printRows(c, l, rows, func(r imageRow) string { return r.ID }, true)
}

// sortImages orders rows as podman's images --sort does.
func sortImages(rows []imageRow, by string) error {
	keys := map[string]func(a, b imageRow) int{
		"created":    func(a, b imageRow) int { return b.created.Compare(a.created) },
		"id":         func(a, b imageRow) int { return strings.Compare(a.ID, b.ID) },
		"repository": func(a, b imageRow) int { return strings.Compare(a.Repository, b.Repository) },
		"tag":        func(a, b imageRow) int { return strings.Compare(a.Tag, b.Tag) },
		"size":       func(a, b imageRow) int { return cmp.Compare(a.size, b.size) },
	}
	key, ok := keys[by]
	if !ok {
		return usage(fmt.Errorf("--sort %q: want created, id, repository, size or tag", by))
	}
	slices.SortStableFunc(rows, key)
	return nil
}

// imageRows makes one row per name, as docker does, and one <none> row
// for a dangling image. filter, if set, keeps one repository (and tag).
func imageRows(imgs []*store.Image, labels map[v1.Hash]map[string]string, filter string, noTrunc bool) []imageRow {
	var wantRepo, wantTag string
	if filter != "" {
		if canon, err := store.NormalizeName(filter); err == nil {
			wantRepo, wantTag = store.SplitName(canon)
			if !hasTag(filter) {
				wantTag = ""
			}
		}
	}
	var rows []imageRow
	for _, img := range imgs {
		base := imageRow{
			ID:           img.ID.Hex[:12],
			Digest:       "<none>",
			CreatedSince: human.Ago(img.Created),
			CreatedAt:    img.Created.Local().Format("2006-01-02 15:04:05 -0700 MST"),
			Size:         human.Size(img.Size),
			Labels:       labels[img.ID],
			created:      img.Created,
			size:         img.Size,
		}
		base.Created = base.CreatedSince
		if noTrunc {
			base.ID = img.ID.String()
		}
		if len(img.Digests) > 0 {
			base.Digest = img.Digests[0][strings.LastIndex(img.Digests[0], "@")+1:]
		}
		names := img.Names
		if len(names) == 0 {
			names = []string{""}
		}
		for _, n := range names {
			r := base
			r.Repository, r.Tag = "<none>", "<none>"
			if n != "" {
				r.Repository, r.Tag = store.SplitName(n)
			}
			if wantRepo != "" && (r.Repository != wantRepo || (wantTag != "" && r.Tag != wantTag)) {
				continue
			}
			rows = append(rows, r)
		}
	}
	return rows
}

// hasTag tells whether a reference the user typed names a tag.
func hasTag(ref string) bool {
	i := strings.LastIndex(ref, ":")
	return i >= 0 && !strings.Contains(ref[i:], "/")
}
