package commands

import (
	"errors"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"tug/config"
	tugnet "tug/net"
	"tug/run"
	"tug/store"
)

// networkRow is one line of `tug network ls`.
type networkRow struct {
	ID       string
	Name     string
	Driver   string
	Subnet   string
	Internal bool
}

func networkCommand() *cli.Command {
	return &cli.Command{
		Name:   "network",
		Before: inUserNS,
		Usage:  "manage bridge networks",
		Subcommands: []*cli.Command{
			existsCommand("network"),
			{
				Name:      "create",
				Usage:     "create a bridge network",
				ArgsUsage: "NAME",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "subnet", Usage: "IPv4 subnet (default: a free /24 of 10.89.0.0/16)"},
					&cli.StringFlag{Name: "gateway", Usage: "gateway address (default: the subnet's first)"},
					&cli.BoolFlag{Name: "internal", Usage: "no route out of the network"},
					&cli.StringSliceFlag{Name: "label", Usage: "set a label K=V"},
				},
				Action: networkCreate,
			},
			{
				Name:    "ls",
				Aliases: []string{"list"},
				Usage:   "list networks",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only names"},
					&cli.StringFlag{Name: "format", Usage: "Go template, 'table TEMPLATE' or 'json'"},
				},
				Action: networkList,
			},
			{
				Name: "inspect", Usage: "show networks as JSON", ArgsUsage: "NAME [NAME...]",
				Flags:  []cli.Flag{&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Usage: "Go template"}},
				Action: networkInspect,
			},
			{Name: "rm", Aliases: []string{"remove"}, Usage: "remove networks no container uses", ArgsUsage: "NAME [NAME...]", Action: networkRemove},
			{
				Name: "prune", Usage: "remove every user-defined network no container uses", Action: networkPrune,
				Flags: []cli.Flag{forceFlag()},
			},
			{
				Name: "connect", Usage: "put a container on a network as well", ArgsUsage: "NETWORK CONTAINER",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "ip", Usage: "the container's address on the network"},
					&cli.StringSliceFlag{Name: "alias", Usage: "another name of the container on the network"},
				},
				Action: networkConnect,
			},
			{Name: "disconnect", Usage: "take a container off a network it was connected to", ArgsUsage: "NETWORK CONTAINER", Action: networkDisconnect},
		},
	}
}

func networkCreate(c *cli.Context) error {
	if err := needArgs(c, 1, 1); err != nil {
		return err
	}
	s, cfg, err := openStore(c)
	if err != nil {
		return err
	}
	labels := map[string]string{}
	for _, l := range c.StringSlice("label") {
		k, v, _ := strings.Cut(l, "=")
		labels[k] = v
	}
	r, err := tugnet.Create(s, c.Args().First(), tugnet.CreateOptions{
		Subnet: c.String("subnet"), Gateway: c.String("gateway"), Internal: c.Bool("internal"), Labels: labels,
	}, cfg.Network.Subnet)
	if err != nil {
		return err
	}
	fmt.Println(r.Name)
	return nil
}

func networkList(c *cli.Context) error {
	s, cfg, err := openStore(c)
	if err != nil {
		return err
	}
	all, err := tugnet.List(s, cfg.Network.Subnet)
	if err != nil {
		return err
	}
	var rows []networkRow
	for _, r := range all {
		rows = append(rows, networkRow{ID: r.Bridge, Name: r.Name, Driver: "bridge", Subnet: r.Subnet.String(), Internal: r.Internal})
	}
	l := listing{format: c.String("format"), table: "table {{.Name}}\t{{.Driver}}\t{{.Subnet}}\t{{.ID}}",
		headers: map[string]string{"ID": "BRIDGE", "Name": "NAME", "Driver": "DRIVER", "Subnet": "SUBNET", "Internal": "INTERNAL"}}
	return printRows(c, l, rows, func(r networkRow) string { return r.Name }, false)
}

// networkView is the docker-shaped view network inspect prints.
type networkView struct {
	Name       string            `json:"Name"`
	Driver     string            `json:"Driver"`
	Internal   bool              `json:"Internal"`
	Subnet     string            `json:"Subnet"`
	Gateway    string            `json:"Gateway"`
	Bridge     string            `json:"Bridge"`
	Labels     map[string]string `json:"Labels"`
	Containers []string          `json:"Containers"`
}

func networkInspect(c *cli.Context) error { return inspect(c, "network") }

// networkViewOf is the view of the network name.
func networkViewOf(s *store.Store, cfg config.Config, name string) (any, error) {
	r, err := tugnet.Lookup(s, name, cfg.Network.Subnet)
	if err != nil {
		return nil, err
	}
	v := networkView{Name: r.Name, Driver: "bridge", Internal: r.Internal, Subnet: r.Subnet.String(),
		Gateway: r.Gateway.String(), Bridge: r.Bridge, Labels: r.Labels, Containers: tugnet.Users(r.Network)}
	if v.Containers == nil {
		v.Containers = []string{}
	}
	return v, nil
}

func networkRemove(c *cli.Context) error {
	if err := needArgs(c, 1, -1); err != nil {
		return err
	}
	s, cfg, err := openStore(c)
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range c.Args().Slice() {
		if err := tugnet.Remove(s, name, cfg.Network.Subnet); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Println(name)
	}
	return errors.Join(errs...)
}

func networkPrune(c *cli.Context) error {
	if err := confirmPrune(c, "all custom networks not used by at least one container"); err != nil {
		return err
	}
	s, cfg, err := openStore(c)
	if err != nil {
		return err
	}
	gone, err := tugnet.Prune(s, cfg.Network.Subnet)
	for _, name := range gone {
		fmt.Println(name)
	}
	return err
}

func networkConnect(c *cli.Context) error {
	return onNetworkContainer(c, func(s *store.Store, ctr *store.Container, network, subnet string) error {
		return run.Connect(s, ctr, network, c.String("ip"), c.StringSlice("alias"), subnet)
	})
}

func networkDisconnect(c *cli.Context) error {
	return onNetworkContainer(c, run.Disconnect)
}

// onNetworkContainer runs f on the NETWORK CONTAINER arguments.
func onNetworkContainer(c *cli.Context, f func(s *store.Store, ctr *store.Container, network, subnet string) error) error {
	if err := needArgs(c, 2, 2); err != nil {
		return err
	}
	s, cfg, err := openStore(c)
	if err != nil {
		return err
	}
	ctr, err := s.LookupContainer(c.Args().Get(1))
	if err != nil {
		return err
	}
	return f(s, ctr, c.Args().First(), cfg.Network.Subnet)
}
