// Command tug-compose is tug's compose helper: the one program that
// links compose-go (docker compose's own parser), whose package inits
// (its JSON schema's above all, 3.6 ms) no other tug start should pay.
// tug embeds it and runs it for tug compose: a JSON plan.Request on
// stdin; the answer on stdout; an error as one line on stderr, exit 125.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"

	"tug/compose/plan"
)

func main() {
	if err := serve(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, oneLine(err))
		os.Exit(125)
	}
}

func serve(in io.Reader, out io.Writer) error {
	var req plan.Request
	if err := json.NewDecoder(in).Decode(&req); err != nil {
		return fmt.Errorf("read the request: %w", err)
	}
	p, err := load(req.Project)
	if err != nil {
		return err
	}
	if req.Config != nil {
		return config(p, req.Config, out)
	}
	if req.Plan {
		pl, err := toPlan(p)
		if err != nil {
			return err
		}
		return json.NewEncoder(out).Encode(pl)
	}
	return errors.New("the request asks for nothing")
}

// load finds, reads, merges, interpolates and validates the project,
// in docker compose's order: the files (found from this directory up,
// as the helper runs in tug's), then the env files (.env in the
// project's directory, the first file's unless --project-directory),
// then the profiles and the name.
func load(o plan.Options) (*types.Project, error) {
	fns := []cli.ProjectOptionsFn{
		cli.WithWorkingDirectory(o.ProjectDir),
		cli.WithEnv(o.Env),
		cli.WithConfigFileEnv,
		cli.WithDefaultConfigPath,
		cli.WithEnvFiles(o.EnvFiles...),
		cli.WithDotEnv,
		cli.WithDefaultProfiles(o.Profiles...),
	}
	if o.Name != "" {
		fns = append(fns, cli.WithName(o.Name))
	}
	opts, err := cli.NewProjectOptions(o.Files, fns...)
	if err != nil {
		return nil, err
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		return nil, located(err, opts.ConfigPaths)
	}
	return p, nil
}

// config writes the resolved model, as docker compose config does.
func config(p *types.Project, req *plan.ConfigRequest, out io.Writer) error {
	if req.Services {
		for _, name := range p.ServiceNames() {
			fmt.Fprintln(out, name)
		}
		return nil
	}
	var b []byte
	var err error
	switch req.Format {
	case "", "yaml":
		b, err = p.MarshalYAML()
	case "json":
		b, err = p.MarshalJSON()
	default:
		return fmt.Errorf("--format %q: want yaml or json", req.Format)
	}
	if err != nil {
		return err
	}
	_, err = out.Write(b)
	return err
}

// oneLine is err's message on one line, as tug's errors are.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
