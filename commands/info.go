package commands

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"tug/config"
	"tug/run"
)

// infoView is what `tug info` shows; --format sees these fields.
type infoView struct {
	Version       string              `json:"version"`
	GoVersion     string              `json:"go_version"`
	Root          string              `json:"root"`
	RunRoot       string              `json:"runroot"`
	ConfigFile    string              `json:"config_file"`
	StorageDriver string              `json:"storage_driver"`
	CgroupManager string              `json:"cgroup_manager"`
	Images        int                 `json:"images"`
	Host          run.Host            `json:"host"`
	Insecure      []string            `json:"insecure_registries"`
	Mirrors       map[string][]string `json:"registry_mirrors"`
	// Store is podman's name for the store's part.
	Store struct {
		GraphRoot, RunRoot, GraphDriverName string
	} `json:"store"`
}

func infoCommand() *cli.Command {
	return &cli.Command{
		Name:   "info",
		Before: inUserNS,
		Usage:  "show the store, runtime and host tug works with",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Usage: "Go template or 'json'"},
		},
		Action: info,
	}
}

func info(c *cli.Context) error {
	s, cfg, err := openStore(c)
	if err != nil {
		return err
	}
	host, err := run.DescribeHost()
	if err != nil {
		return err
	}
	driver, err := run.StorageDriver(s, cfg.Rootless.StorageDriver, c.String("storage-driver"))
	if err != nil {
		return err
	}
	manager, err := run.CgroupManager(s, cfg.Engine.CgroupManager)
	if err != nil { // info still describes the rest; run and create fail
		manager = "none: " + err.Error()
	}
	imgs, err := s.Images()
	if err != nil {
		return err
	}
	v := infoView{
		Version: Version, GoVersion: runtime.Version(),
		Root: s.Root(), RunRoot: s.RunRoot(), ConfigFile: configPath(c),
		StorageDriver: driver, CgroupManager: manager, Images: len(imgs), Host: host,
		Insecure: cfg.Registries.Insecure, Mirrors: cfg.Registries.Mirrors,
	}
	v.Store.GraphRoot, v.Store.RunRoot, v.Store.GraphDriverName = v.Root, v.RunRoot, driver
	return printOne(os.Stdout, c.String("format"), v, func() error { return printInfo(v) })
}

func configPath(c *cli.Context) string {
	if p := c.String("config"); p != "" {
		return p
	}
	return config.DefaultPath(hostEnv())
}

func printInfo(v infoView) error {
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 1, ' ', 0)
	rows := [][2]string{
		{"Version:", v.Version},
		{"Go version:", v.GoVersion},
		{"Store root:", v.Root},
		{"Run root:", v.RunRoot},
		{"Config file:", v.ConfigFile},
		{"Storage driver:", v.StorageDriver},
		{"Images:", fmt.Sprint(v.Images)},
		{"Kernel:", v.Host.Kernel},
		{"Architecture:", v.Host.Arch},
		{"Cgroup version:", v.Host.Cgroups.Version},
		{"Cgroup manager:", v.CgroupManager},
		{"Cgroup root:", v.Host.Cgroups.Mount},
		{"Rootless:", fmt.Sprint(v.Host.Rootless)},
	}
	if v.Host.Rootless {
		rows = append(rows, [][2]string{
			{"UID map:", v.Host.UIDMap}, {"GID map:", v.Host.GIDMap}, {"Default network:", v.Host.Network},
		}...)
	}
	rows = append(rows, [][2]string{
		{"Insecure registries:", strings.Join(v.Insecure, ", ")},
	}...)
	for reg, ms := range v.Mirrors {
		rows = append(rows, [2]string{"Mirrors of " + reg + ":", strings.Join(ms, ", ")})
	}
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\n", r[0], r[1])
	}
	return tw.Flush()
}
