package commands

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// urfave/cli, like Go's flag package, stops parsing flags at the first
// argument that is not one: `tug save busybox -o x.tar` would take -o
// for an image. docker and podman parse flags anywhere among a
// command's arguments, except after the image of run and create, the
// container of exec and top, and unshare's command: the rest belongs to
// the process. interspersed moves every flag of the command (and its
// value) before its arguments once, for every command, so that urfave
// sees them first. `--` still ends the flags.

// processArgs tells whether a command's arguments after its first
// positional one are a process's, not tug's; path is the command's
// name after tug's ("run", "container exec").
func processArgs(path string) bool {
	switch strings.TrimPrefix(path, "container ") {
	case "run", "create", "exec", "top", "unshare", "compose exec", "compose run":
		return true
	}
	return false
}

// interspersed returns args (os.Args) with the flags of the command they
// name moved before its positional arguments.
func interspersed(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	i := skipFlags(app.Flags, args, 1)
	var cmd *cli.Command
	var path []string
	cmds := app.Commands
	for i < len(args) {
		next := findCommand(cmds, args[i])
		if next == nil {
			break
		}
		cmd, cmds, i = next, next.Subcommands, i+1
		path = append(path, next.Name)
		if len(cmds) == 0 {
			break
		}
		i = skipFlags(cmd.Flags, args, i)
	}
	if cmd == nil || len(cmd.Subcommands) > 0 || cmd.SkipFlagParsing {
		return args
	}
	flags, positional := splitArgs(cmd.Flags, args[i:], processArgs(strings.Join(path, " ")))
	out := append(append([]string{}, args[:i]...), flags...)
	return append(out, positional...)
}

// findCommand is the command of cmds named (or aliased) name.
func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

// skipFlags returns the index of the first argument from i on that is
// not one of flags (or a flag's value).
func skipFlags(flags []cli.Flag, args []string, i int) int {
	for i < len(args) && isFlag(args[i]) {
		if takesValue(flags, args[i]) {
			i++
		}
		i++
	}
	return i
}

// splitArgs sorts a command's arguments into its flags (each with its
// value) and the rest, in order. With stopAtFirst, everything from the
// first positional argument on is the rest.
func splitArgs(defs []cli.Flag, args []string, stopAtFirst bool) (flags, rest []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			// urfave takes all after a leading -- as arguments
			return flags, append(append([]string{"--"}, rest...), args[i+1:]...)
		case !isFlag(a):
			if stopAtFirst {
				return flags, append(rest, args[i:]...)
			}
			rest = append(rest, a)
		default:
			flags = append(flags, a)
			if takesValue(defs, a) && i+1 < len(args) {
				i++
				flags = append(flags, args[i])
			}
		}
	}
	return flags, rest
}

// isFlag tells whether a is a flag: -x, --name, --name=v (not "-", which
// names stdin).
func isFlag(a string) bool {
	return len(a) > 1 && a[0] == '-'
}

// takesValue tells whether flag arg a (without =value) is one of defs
// that takes the next argument as its value. Combined short flags (-aq)
// are booleans; an unknown flag takes none, and urfave will say so.
func takesValue(defs []cli.Flag, a string) bool {
	if strings.Contains(a, "=") {
		return false
	}
	name := strings.TrimLeft(a, "-")
	for _, f := range defs {
		for _, n := range f.Names() {
			if n == name {
				v, ok := f.(interface{ TakesValue() bool })
				return ok && v.TakesValue()
			}
		}
	}
	return false
}
