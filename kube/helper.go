package kube

import (
	"embed"
	"encoding/json"
	"fmt"

	"tug/internal/helper"
	"tug/kube/plan"
)

// The helper, kube/cmd/tug-kube, is the one program that links
// k8s.io/api; tug carries it as bytes and runs it from a memfd, so that
// no other tug start pays for those packages' inits (kube/helper/README).
//
//go:embed helper
var helperFS embed.FS

// ask runs the helper on req and returns what it printed.
func ask(req plan.Request) ([]byte, error) {
	return helper.Helper{FS: helperFS, Path: "helper/tug-kube", Readme: "kube/helper/README", What: "Kubernetes"}.Run(req)
}

// Plan asks the helper for the plan of the YAML files (and
// --configmap's); down's needs no ConfigMap or Secret to be there.
func Plan(files, configMaps []plan.Source, down bool) (*plan.Plan, error) {
	out, err := ask(plan.Request{Play: &plan.PlayRequest{Files: files, ConfigMaps: configMaps, Down: down}})
	if err != nil {
		return nil, err
	}
	var p plan.Plan
	if err := json.Unmarshal(out, &p); err != nil {
		return nil, fmt.Errorf("kube: the helper's plan: %w", err)
	}
	return &p, nil
}
