package commands

import (
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"tug/config"
	"tug/pull"
	"tug/store"
)

// registries turns the config's registry section into pull's form.
func registries(cfg config.Config) pull.Registries {
	return pull.Registries{
		Insecure:  cfg.Registries.Insecure,
		Mirrors:   cfg.Registries.Mirrors,
		UserAgent: "tug/" + Version,
	}
}

// registryFlags are podman's registry flags of pull, push and login
// (--creds not for login).
func registryFlags(creds bool) []cli.Flag {
	flags := []cli.Flag{
		&cli.BoolFlag{Name: "tls-verify", Value: true, Usage: "verify the registry's TLS certificate; =false also allows plain HTTP"},
		&cli.StringFlag{Name: "authfile", Usage: "credentials file (docker's config.json form) instead of docker's config.json"},
	}
	if creds {
		flags = append(flags, &cli.StringFlag{Name: "creds", Usage: "USER:PASSWORD for the registry"})
	}
	return flags
}

// registriesFor is the config's registry section with the registry
// flags applied for ref (an image reference, or a registry for login).
func registriesFor(c *cli.Context, cfg config.Config, ref string) (pull.Registries, error) {
	r, err := registries(cfg).WithAuth(c.String("authfile"), c.String("creds"))
	if err == nil && !c.Bool("tls-verify") {
		r = r.WithoutTLSVerify(ref)
	}
	return r, err
}

func pullCommand() *cli.Command {
	return &cli.Command{
		Name:      "pull",
		Before:    inUserNS,
		Usage:     "download an image from a registry",
		ArgsUsage: "NAME[:TAG|@DIGEST]",
		Flags: append([]cli.Flag{
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only the image ID"},
			&cli.StringFlag{Name: "platform", Usage: "os/arch[/variant] to pick from a multi-arch image (default: this host's)"},
		}, registryFlags(true)...),
		Action: pullAction,
	}
}

func pullAction(c *cli.Context) error {
	if err := needArgs(c, 1, 1); err != nil {
		return err
	}
	s, cfg, err := openStore(c)
	if err != nil {
		return err
	}
	regs, err := registriesFor(c, cfg, c.Args().First())
	if err != nil {
		return err
	}
	opt := pull.Options{Registries: regs}
	if p := c.String("platform"); p != "" {
		if opt.Platform, err = pull.ParsePlatform(p); err != nil {
			return err
		}
	}
	ref := c.Args().First()
	canon, err := store.NormalizeName(ref)
	if err != nil {
		return err
	}
	before, _ := s.LookupImage(canon)
	prog := newProgress(os.Stderr, c.Bool("quiet"), "Pull complete")
	if prog != nil {
		fmt.Fprintf(os.Stderr, "Pulling %s\n", canon)
	}
	opt.Reporter = prog.reporter()
	img, err := pull.Pull(c.Context, s, ref, opt)
	prog.wait()
	if err != nil {
		return err
	}
	if prog == nil {
		fmt.Println(img.ID)
		return nil
	}
	if len(img.Digests) > 0 {
		d := img.Digests[0]
		fmt.Printf("Digest: %s\n", d[strings.LastIndex(d, "@")+1:])
	}
	status := "Downloaded newer image for "
	if before != nil && before.ID == img.ID {
		status = "Image is up to date for "
	}
	fmt.Printf("Status: %s%s\n%s\n", status, canon, canon)
	return nil
}

func pushCommand() *cli.Command {
	return &cli.Command{
		Name:      "push",
		Before:    inUserNS,
		Usage:     "upload an image to a registry",
		ArgsUsage: "NAME[:TAG] [DESTINATION]",
		Flags: append([]cli.Flag{
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print nothing but errors"},
			&cli.BoolFlag{Name: "uncompressed", Usage: "push the layers as plain tars"},
		}, registryFlags(true)...),
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, 2); err != nil {
				return err
			}
			s, cfg, err := openStore(c)
			if err != nil {
				return err
			}
			dest := c.Args().Get(1)
			if dest == "" {
				dest = c.Args().First()
			}
			regs, err := registriesFor(c, cfg, dest)
			if err != nil {
				return err
			}
			d, err := pull.Push(c.Context, s, c.Args().Get(0), c.Args().Get(1), regs, c.Bool("uncompressed"))
			if err != nil {
				return err
			}
			if !c.Bool("quiet") {
				fmt.Printf("Digest: %s\n", d)
			}
			return nil
		},
	}
}
