// Command tug-kube is tug's Kubernetes helper: the one program that
// links k8s.io/api, so that no other tug start pays its package inits.
// tug embeds it and runs it for kube play and kube generate: a JSON
// plan.Request on stdin; a JSON plan.Plan (play) or YAML (generate) on
// stdout; an error as one line on stderr, exit 125.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"tug/kube/plan"
)

func main() {
	if err := serve(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(125)
	}
}

func serve(in io.Reader, out io.Writer) error {
	var req plan.Request
	if err := json.NewDecoder(in).Decode(&req); err != nil {
		return fmt.Errorf("read the request: %w", err)
	}
	switch {
	case req.Play != nil:
		p, err := play(req.Play)
		if err != nil {
			return err
		}
		return json.NewEncoder(out).Encode(p)
	case req.Generate != nil:
		y, err := generate(req.Generate)
		if err != nil {
			return err
		}
		_, err = out.Write(y)
		return err
	}
	return errors.New("the request asks for nothing")
}
