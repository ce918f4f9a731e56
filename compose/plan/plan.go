// Package plan is what tug and its compose helper (compose/cmd/
// tug-compose) say to each other, in JSON: tug's side links none of
// compose-go.
package plan

// Request is what tug asks of the helper.
type Request struct {
	Project Options        `json:"project"`
	Config  *ConfigRequest `json:"config,omitempty"`
}

// Options find and read a project as docker compose does: its -f files
// (none: compose.yaml, compose.yml, docker-compose.yaml or .yml in the
// helper's directory, tug's, or one above, with its override file), -p,
// --profile, --env-file, --project-directory, and the caller's
// environment (for interpolation, over the project's .env; COMPOSE_FILE,
// COMPOSE_PROJECT_NAME and COMPOSE_PROFILES count).
type Options struct {
	Files      []string `json:"files,omitempty"`
	ProjectDir string   `json:"project_dir,omitempty"`
	Name       string   `json:"name,omitempty"`
	Profiles   []string `json:"profiles,omitempty"`
	EnvFiles   []string `json:"env_files,omitempty"`
	Env        []string `json:"env"`
}

// ConfigRequest asks for the resolved model, as docker compose config
// prints it: Format yaml or json; Services, only the services' names.
type ConfigRequest struct {
	Format   string `json:"format"`
	Services bool   `json:"services,omitempty"`
}
