package commands

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
)

// confirmPrune is the rule every prune follows, as docker's: -f goes
// ahead; on a terminal tug asks what warning says and goes ahead on
// yes; with no terminal on stdin it asks nothing and refuses, so that a
// script never hangs on a prompt nor removes by accident.
func confirmPrune(c *cli.Context, warning string) error {
	if c.Bool("force") {
		return nil
	}
	if !isTerminal(os.Stdin) {
		return usage(errors.New(strings.TrimPrefix(helpName(c), "tug ") + ": stdin is not a terminal to confirm on: use -f"))
	}
	fmt.Fprintf(os.Stderr, "WARNING! This will remove %s.\nAre you sure you want to continue? [y/N] ", warning)
	answer, _ := bufio.NewReader(os.Stdin).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "y", "yes":
		return nil
	}
	return coded{errors.New(""), 1}
}

// forceFlag is the prunes' -f.
func forceFlag() cli.Flag {
	return &cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "do not ask for confirmation"}
}
