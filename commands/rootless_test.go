package commands

import (
	"slices"
	"testing"

	"github.com/urfave/cli/v2"
)

// TestRootlessDecision: every command says, by its Before, how a
// rootless tug runs it; those that run as the user itself, outside any
// user namespace, are exactly these. A new command that touches the
// store must not land here by forgetting its Before.
func TestRootlessDecision(t *testing.T) {
	hostSide := []string{"version", "completion", "doctor", "login", "logout", "exec", "stop", "kill", "container exec", "container stop", "container kill", "pod stop", "pod kill", "compose exec", "compose stop", "compose kill"}
	var walk func(prefix string, cmds []*cli.Command, inherited bool)
	walk = func(prefix string, cmds []*cli.Command, inherited bool) {
		for _, c := range cmds {
			name := prefix + c.Name
			decided := inherited || c.Before != nil
			if len(c.Subcommands) > 0 {
				walk(name+" ", c.Subcommands, decided)
				continue
			}
			if host := slices.Contains(hostSide, name); decided == host {
				t.Errorf("%s: Before set %v, want it set unless the command runs as the user", name, decided)
			}
		}
	}
	walk("", App().Commands, false)
}
