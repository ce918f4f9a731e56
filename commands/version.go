package commands

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/urfave/cli/v2"
)

// clientVersion is tug version's data, in the field names of docker
// version's Client section, so that --format '{{.Client.Version}}'
// works as it does there.
type clientVersion struct {
	Version   string
	GoVersion string
	GitCommit string
	BuildTime string
	Os        string
	Arch      string
}

// GitCommit and BuildTime (the commit's time, so that builds are
// reproducible) are set by make with -ldflags, like Version.
var GitCommit, BuildTime string

// buildVersion is tug's version; without make's -ldflags, the commit
// and its time are what go build recorded of the checkout, if anything.
func buildVersion() clientVersion {
	v := clientVersion{Version: Version, GoVersion: runtime.Version(), Os: runtime.GOOS, Arch: runtime.GOARCH, GitCommit: GitCommit, BuildTime: BuildTime}
	if info, ok := debug.ReadBuildInfo(); ok && v.GitCommit == "" {
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				v.GitCommit = s.Value[:min(len(s.Value), 7)]
			case "vcs.time":
				v.BuildTime = s.Value
			case "vcs.modified":
				if s.Value == "true" && v.GitCommit != "" {
					defer func() { v.GitCommit += "-dirty" }()
				}
			}
		}
	}
	return v
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "show tug's version, in docker version's layout",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Usage: "Go template ({{.Client.Version}}) or 'json'"},
		},
		Action: func(c *cli.Context) error {
			v := struct{ Client clientVersion }{buildVersion()}
			return printOne(c.App.Writer, c.String("format"), v, func() error {
				_, err := fmt.Fprintf(c.App.Writer, "Client:\n Version:           %s\n Go version:        %s\n Git commit:        %s\n Built:             %s\n OS/Arch:           %s/%s\n",
					v.Client.Version, v.Client.GoVersion, orDash(v.Client.GitCommit), orDash(v.Client.BuildTime), v.Client.Os, v.Client.Arch)
				return err
			})
		},
	}
}

// orDash is s, or "-" when it is empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
