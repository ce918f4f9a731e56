package build

import (
	"fmt"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// changeKinds are the instructions commit --change takes: docker's, and
// STOPSIGNAL and HEALTHCHECK as podman takes them. None runs anything or
// reads a build context.
var changeKinds = []string{"CMD", "ENTRYPOINT", "ENV", "EXPOSE", "HEALTHCHECK", "LABEL", "ONBUILD", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR"}

// Changes parses commit's --change instructions ("CMD [\"sh\"]",
// "ENV A=1") with BuildKit's Dockerfile parser, and returns what applies
// them, in order, to an image's config.
func Changes(changes []string) (func(*v1.Config), error) {
	var cmds []instructions.Command
	for _, ch := range changes {
		res, err := parser.Parse(strings.NewReader(ch))
		if err != nil {
			return nil, fmt.Errorf("--change %q: %w", ch, err)
		}
		if len(res.AST.Children) != 1 {
			return nil, fmt.Errorf("--change %q: want one instruction", ch)
		}
		node := res.AST.Children[0]
		if !slices.ContainsFunc(changeKinds, func(k string) bool { return strings.EqualFold(k, node.Value) }) {
			return nil, fmt.Errorf("--change %q: %s cannot be changed by commit; want one of %s", ch, strings.ToUpper(node.Value), strings.Join(changeKinds, ", "))
		}
		cmd, err := instructions.ParseCommand(node)
		if err != nil {
			return nil, fmt.Errorf("--change %q: %w", ch, err)
		}
		cmds = append(cmds, cmd)
	}
	return func(cfg *v1.Config) {
		cmdSet := false
		for _, cmd := range cmds {
			setConfig(cfg, cmd, &cmdSet)
		}
	}, nil
}
