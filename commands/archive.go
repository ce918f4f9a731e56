package commands

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"tug/pull"
	"tug/store"
)

func saveCommand() *cli.Command {
	return &cli.Command{
		Name:      "save",
		Before:    inUserNS,
		Usage:     "write images to a tar archive (stdout by default)",
		ArgsUsage: "IMAGE [IMAGE...]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write to FILE instead of stdout"},
			&cli.StringFlag{Name: "format", Value: pull.DockerArchive, Usage: "docker-archive or oci-archive"},
			&cli.BoolFlag{Name: "multi-image-archive", Aliases: []string{"m"}, Usage: "podman's: several images in one archive (tug writes them so anyway)"},
			&cli.BoolFlag{Name: "uncompressed", Usage: "write the layers as plain tars"},
		},
		Action: save,
	}
}

func save(c *cli.Context) error {
	if err := needArgs(c, 1, -1); err != nil {
		return err
	}
	s, _, err := openStore(c)
	if err != nil {
		return err
	}
	opt := pull.SaveOptions{Format: c.String("format"), Uncompressed: c.Bool("uncompressed")}
	return writeArchive(c, "save", func(w io.Writer) error { return pull.Save(s, c.Args().Slice(), opt, w) })
}

// writeArchive runs write into the file -o names, or into stdout when it
// is not a terminal. A file is written next to its target and renamed,
// so a failed write leaves no half archive under the name asked for.
func writeArchive(c *cli.Context, what string, write func(io.Writer) error) error {
	out := c.String("output")
	if out == "" {
		if isTerminal(os.Stdout) {
			return fmt.Errorf("%s: refusing to write an archive to a terminal; use -o FILE or redirect stdout", what)
		}
		return write(os.Stdout)
	}
	f, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp*")
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer os.Remove(f.Name())
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return os.Rename(f.Name(), out)
}

func loadCommand() *cli.Command {
	return &cli.Command{
		Name:   "load",
		Before: inUserNS,
		Usage:  "load images from a docker-archive or oci-archive (stdin by default)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "input", Aliases: []string{"i"}, Usage: "read from FILE instead of stdin"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only what was loaded"},
		},
		Action: load,
	}
}

func load(c *cli.Context) error {
	if err := needArgs(c, 0, 0); err != nil {
		return err
	}
	s, _, err := openStore(c)
	if err != nil {
		return err
	}
	var in io.Reader = os.Stdin
	if p := c.String("input"); p != "" {
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("load: %w", err)
		}
		defer f.Close()
		in = f
	} else if isTerminal(os.Stdin) {
		return fmt.Errorf("load: no archive on stdin; use -i FILE or redirect stdin")
	}
	prog := newProgress(os.Stderr, c.Bool("quiet"), "Loaded")
	imgs, err := pull.Load(c.Context, s, in, pull.LoadOptions{Reporter: prog.reporter()})
	prog.wait()
	for _, img := range imgs {
		printLoaded(img)
	}
	return err
}

func printLoaded(img *store.Image) {
	if len(img.Names) == 0 {
		fmt.Printf("Loaded image ID: %s\n", img.ID)
	}
	for _, n := range img.Names {
		fmt.Printf("Loaded image: %s\n", n)
	}
}
