package commands

import (
	"fmt"
	"runtime"

	"github.com/urfave/cli/v2"
)

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "show tug's version",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Usage: "Go template or 'json'"},
		},
		Action: func(c *cli.Context) error {
			v := struct {
				Version   string `json:"version"`
				GoVersion string `json:"go_version"`
				OS        string `json:"os"`
				Arch      string `json:"arch"`
			}{Version, runtime.Version(), runtime.GOOS, runtime.GOARCH}
			return printOne(c.App.Writer, c.String("format"), v, func() error {
				_, err := fmt.Fprintf(c.App.Writer, "tug version %s (%s, %s/%s)\n", v.Version, v.GoVersion, v.OS, v.Arch)
				return err
			})
		},
	}
}
