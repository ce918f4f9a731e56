// Package compose runs multi-container apps from compose files, as
// docker compose does. The files are read by compose-go, docker
// compose's own parser, in tug's compose helper (compose/cmd/
// tug-compose), which tug embeds and runs: no other tug start pays for
// compose-go's package inits.
package compose

import (
	"embed"

	"tug/compose/plan"
	"tug/internal/helper"
)

//go:embed helper
var helperFS embed.FS

// ask runs the helper on req and returns what it printed.
func ask(req plan.Request) ([]byte, error) {
	return helper.Helper{FS: helperFS, Path: "helper/tug-compose", Readme: "compose/helper/README", What: "compose"}.Run(req)
}

// Config is the project's resolved model, as docker compose config
// prints it (yaml or json), or with services its services' names.
func Config(project plan.Options, format string, services bool) ([]byte, error) {
	return ask(plan.Request{Project: project, Config: &plan.ConfigRequest{Format: format, Services: services}})
}
