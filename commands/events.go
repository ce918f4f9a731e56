package commands

import (
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"tug/internal/human"
	"tug/store"
)

// eventsCommand is docker events: the store's event log, followed until
// --until or a signal.
func eventsCommand() *cli.Command {
	return &cli.Command{
		Name:   "events",
		Before: inUserNS,
		Usage:  "show what happened to containers, images, networks and volumes, and follow it",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "since", Usage: "events from this time: Unix seconds, RFC 3339, or a duration ago (10m)"},
			&cli.StringFlag{Name: "until", Usage: "events up to this time, then stop (without it, follow)"},
			&cli.StringSliceFlag{Name: "filter", Aliases: []string{"f"}, Usage: "type=, event=, container=, image=, label=K[=V], network=, volume="},
			&cli.StringFlag{Name: "format", Usage: "Go template, or json"},
		},
		Action: eventsAction,
	}
}

func eventsAction(c *cli.Context) error {
	if err := needArgs(c, 0, 0); err != nil {
		return err
	}
	filter, err := store.ParseEventFilters(c.StringSlice("filter"))
	if err != nil {
		return usage(err)
	}
	now := time.Now()
	opt := store.EventOptions{Follow: true}
	for _, t := range []struct {
		flag string
		to   *time.Time
	}{{"since", &opt.Since}, {"until", &opt.Until}} {
		if v := c.String(t.flag); v != "" {
			if *t.to, err = human.ParseTime(v, now); err != nil {
				return usage(fmt.Errorf("events --%s %w", t.flag, err))
			}
		}
	}
	if !opt.Until.IsZero() && !opt.Until.After(now) {
		opt.Follow = false
	}
	print, err := eventPrinter(c.String("format"))
	if err != nil {
		return usage(err)
	}
	s, _, err := openStore(c)
	if err != nil {
		return err
	}
	opt.Stop = stopOnSignal()
	return s.ReadEvents(opt, func(e store.Event) error {
		if !filter.Match(e) {
			return nil
		}
		return print(e)
	})
}

// eventPrinter prints an event: as docker's line, as JSON, or through a
// template.
func eventPrinter(format string) (func(store.Event) error, error) {
	switch format {
	case "":
		return func(e store.Event) error {
			var attrs []string
			for k, v := range e.Actor.Attributes {
				attrs = append(attrs, k+"="+v)
			}
			slices.Sort(attrs)
			_, err := fmt.Printf("%s %s %s %s (%s)\n", time.Unix(0, e.TimeNano).Format("2006-01-02T15:04:05.000000000Z07:00"),
				e.Type, e.Action, e.Actor.ID, strings.Join(attrs, ", "))
			return err
		}, nil
	case "json":
		format = "{{json .}}"
	}
	t, err := parseTemplate(unescape(format))
	if err != nil {
		return nil, err
	}
	return func(e store.Event) error {
		if err := t.Execute(os.Stdout, e); err != nil {
			return fmt.Errorf("--format: %w", err)
		}
		_, err := fmt.Println()
		return err
	}, nil
}

// stopOnSignal is closed at the first SIGINT or SIGTERM: what ends a
// followed stream of events.
func stopOnSignal() chan struct{} {
	stop := make(chan struct{})
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM)
	go func() { <-sigs; close(stop) }()
	return stop
}
