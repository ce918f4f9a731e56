package commands

import (
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"tug/internal/human"
	"tug/run"
	"tug/store"
)

// statsRow is one line of `tug stats`, with docker's field names.
type statsRow struct {
	ID       string
	Name     string
	CPUPerc  string
	MemUsage string
	MemPerc  string
	NetIO    string
	BlockIO  string
	PIDs     string
}

func statsCommand() *cli.Command {
	return &cli.Command{
		Name:      "stats",
		Before:    inUserNS,
		Usage:     "show containers' resource use: live on a terminal, once otherwise",
		ArgsUsage: "[CONTAINER...]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "no-stream", Usage: "print one snapshot and exit"},
			&cli.BoolFlag{Name: "no-trunc", Usage: "do not truncate IDs"},
			&cli.StringFlag{Name: "format", Usage: "Go template, 'table TEMPLATE' or 'json'"},
		},
		Action: func(c *cli.Context) error {
			return showStats(c, func(s *store.Store) ([]*store.Container, error) { return statsTargets(s, c.Args().Slice()) })
		},
	}
}

// showStats prints the use of the containers targets picks: once, or
// each second on a terminal.
func showStats(c *cli.Context, targets func(s *store.Store) ([]*store.Container, error)) error {
	s, _, err := openStore(c)
	if err != nil {
		return err
	}
	ctrs, err := targets(s)
	if err != nil {
		return err
	}
	live := !c.Bool("no-stream") && isTerminal(os.Stdout)
	prev := map[string]*run.Usage{}
	for _, ctr := range ctrs {
		if u, err := run.Sample(s, ctr, nil); err == nil {
			prev[ctr.ID] = &u
		}
	}
	l := listing{format: c.String("format"),
		table: "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}",
		headers: map[string]string{"ID": "CONTAINER ID", "Name": "NAME", "CPUPerc": "CPU %", "MemUsage": "MEM USAGE / LIMIT",
			"MemPerc": "MEM %", "NetIO": "NET I/O", "BlockIO": "BLOCK I/O", "PIDs": "PIDS"}}
	for {
		select {
		case <-c.Context.Done():
			return nil
		case <-time.After(time.Second):
		}
		var rows []any
		for _, ctr := range ctrs {
			u, err := run.Sample(s, ctr, prev[ctr.ID])
			if err != nil {
				continue
			}
			prev[ctr.ID] = &u
			rows = append(rows, statsRowOf(u, c.Bool("no-trunc")))
		}
		if live {
			fmt.Print("\033[2J\033[H")
		}
		if err := l.print(os.Stdout, rows); err != nil || !live {
			return err
		}
	}
}

// statsTargets are the named containers, or every running one.
func statsTargets(s *store.Store, refs []string) ([]*store.Container, error) {
	if len(refs) > 0 {
		var out []*store.Container
		for _, r := range refs {
			ctr, err := s.LookupContainer(r)
			if err != nil {
				return nil, err
			}
			out = append(out, ctr)
		}
		return out, nil
	}
	all, err := s.Containers()
	if err != nil {
		return nil, err
	}
	var out []*store.Container
	for _, ctr := range all {
		if st, err := run.State(s, ctr); err == nil && st.Status == store.StatusRunning {
			out = append(out, ctr)
		}
	}
	return out, nil
}

func statsRowOf(u run.Usage, noTrunc bool) statsRow {
	id := u.Container.ID
	if !noTrunc {
		id = id[:12]
	}
	return statsRow{
		ID: id, Name: u.Container.Name, CPUPerc: fmt.Sprintf("%.2f%%", u.CPUPercent),
		MemUsage: binarySize(u.Memory) + " / " + binarySize(u.MemoryLimit), MemPerc: fmt.Sprintf("%.2f%%", u.MemoryPercent()),
		NetIO:   human.Size(int64(u.NetRx)) + " / " + human.Size(int64(u.NetTx)),
		BlockIO: human.Size(int64(u.BlockRead)) + " / " + human.Size(int64(u.BlockWrite)),
		PIDs:    fmt.Sprint(u.Pids),
	}
}

// binarySize formats bytes in 1024 units, as docker's memory column does.
func binarySize(n uint64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	f, i := float64(n), 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	return fmt.Sprintf("%.4g%s", f, units[i])
}
