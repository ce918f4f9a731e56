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
			switch f := c.String("format"); f {
			case "json":
				return printJSON(c.App.Writer, v)
			case "":
				fmt.Fprintf(c.App.Writer, "tug version %s (%s, %s/%s)\n", v.Version, v.GoVersion, v.OS, v.Arch)
				return nil
			default:
				t, err := parseTemplate(unescape(f))
				if err != nil {
					return err
				}
				if err := t.Execute(c.App.Writer, v); err != nil {
					return fmt.Errorf("--format: %w", err)
				}
				fmt.Fprintln(c.App.Writer)
				return nil
			}
		},
	}
}
