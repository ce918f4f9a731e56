// Package build builds images from Dockerfiles: tug build. The
// Dockerfile is read by BuildKit's own parser and instruction types,
// so that its syntax and its errors are docker's.
package build

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// Dockerfile is a parsed Dockerfile: its stages and the ARGs before the
// first FROM.
type Dockerfile struct {
	Name     string // as given, for errors
	Stages   []instructions.Stage
	MetaArgs []instructions.ArgCommand
	Escape   rune
}

// ErrSyntax marks a Dockerfile that cannot be parsed; its text names the
// file and the line.
var ErrSyntax = errors.New("Dockerfile syntax")

// ReadDockerfile parses the Dockerfile at path (name is how errors call
// it).
func ReadDockerfile(path, name string) (*Dockerfile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read Dockerfile: %w", err)
	}
	return ParseDockerfile(b, name)
}

// ParseDockerfile parses the text of a Dockerfile.
func ParseDockerfile(text []byte, name string) (*Dockerfile, error) {
	res, err := parser.Parse(bytes.NewReader(text))
	if err != nil {
		return nil, located(name, err)
	}
	stages, meta, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return nil, located(name, err)
	}
	if len(stages) == 0 {
		return nil, fmt.Errorf("%w: %s: no FROM instruction", ErrSyntax, name)
	}
	return &Dockerfile{Name: name, Stages: stages, MetaArgs: meta, Escape: res.EscapeToken}, nil
}

// located turns a parser error into name:LINE: what, one line.
func located(name string, err error) error {
	var le *parser.LocationError
	if errors.As(err, &le) && len(le.Locations) > 0 && len(le.Locations[0]) > 0 {
		return fmt.Errorf("%w: %s:%d: %v", ErrSyntax, name, le.Locations[0][0].Start.Line, innermost(err))
	}
	return fmt.Errorf("%w: %s: %v", ErrSyntax, name, innermost(err))
}

// innermost is the text of the error at the bottom of err's chain, less
// the parser's own "dockerfile parse error on line N" wrapping.
func innermost(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

// stageIndex finds the stage named name (or numbered, as COPY --from=0
// has it) among the first n stages.
func (d *Dockerfile) stageIndex(name string, n int) (int, bool) {
	for i := 0; i < n; i++ {
		if d.Stages[i].Name == strings.ToLower(name) || fmt.Sprint(i) == name {
			return i, true
		}
	}
	return 0, false
}
