package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"

	"tug/run"
	"tug/store"
)

// routes names every endpoint served.
func (srv *server) routes() {
	for pattern, h := range map[string]http.HandlerFunc{
		"GET /_ping":                     srv.ping,
		"HEAD /_ping":                    srv.ping,
		"GET /version":                   srv.version,
		"GET /info":                      srv.info,
		"GET /events":                    srv.streamEvents,
		"GET /containers/json":           srv.listContainers,
		"POST /containers/create":        srv.createContainer,
		"GET /containers/{id}/json":      srv.inspectContainer,
		"POST /containers/{id}/start":    srv.startContainer,
		"POST /containers/{id}/stop":     srv.stopContainer,
		"POST /containers/{id}/restart":  srv.noContent(srv.restartContainer),
		"POST /containers/{id}/kill":     srv.noContent(srv.killContainer),
		"POST /containers/{id}/wait":     srv.waitContainer,
		"POST /containers/{id}/attach":   srv.attachContainer,
		"POST /containers/{id}/resize":   srv.resizeContainer,
		"HEAD /containers/{id}/archive":  srv.statArchive,
		"GET /containers/{id}/archive":   srv.getArchive,
		"PUT /containers/{id}/archive":   srv.putArchive,
		"GET /containers/{id}/logs":      srv.containerLogs,
		"DELETE /containers/{id}":        srv.noContent(srv.removeContainer),
		"GET /containers/{id}/top":       srv.topContainer,
		"GET /containers/{id}/stats":     srv.containerStats,
		"POST /containers/{id}/pause":    srv.noContent(srv.pauseContainer),
		"POST /containers/{id}/unpause":  srv.noContent(srv.unpauseContainer),
		"POST /containers/{id}/rename":   srv.noContent(srv.renameContainer),
		"POST /containers/{id}/update":   srv.updateContainer,
		"GET /containers/{id}/export":    srv.exportContainer,
		"GET /containers/{id}/changes":   srv.containerChanges,
		"POST /containers/prune":         srv.pruneContainers,
		"GET /images/json":               srv.listImages,
		"POST /images/create":            srv.pullImage,
		"POST /build":                    srv.buildImage,
		"POST /images/prune":             srv.pruneImages,
		"GET /images/search":             srv.searchImages,
		"GET /images/get":                srv.saveImages,
		"POST /images/load":              srv.loadImages,
		"POST /commit":                   srv.commitContainer,
		"POST /auth":                     srv.auth,
		"GET /system/df":                 srv.diskUsage,
		"GET /images/{name...}":          srv.imageByName,
		"POST /images/{name...}":         srv.imageVerb,
		"DELETE /images/{name...}":       srv.removeImage,
		"POST /containers/{id}/exec":     srv.createExec,
		"POST /exec/{id}/start":          srv.startExec,
		"GET /exec/{id}/json":            srv.inspectExec,
		"POST /exec/{id}/resize":         srv.resizeExec,
		"GET /networks":                  srv.listNetworks,
		"GET /networks/{id}":             srv.inspectNetwork,
		"POST /networks/create":          srv.createNetwork,
		"DELETE /networks/{id}":          srv.removeNetwork,
		"POST /networks/prune":           srv.pruneNetworks,
		"POST /networks/{id}/connect":    srv.connectNetwork,
		"POST /networks/{id}/disconnect": srv.disconnectNetwork,
		"GET /volumes":                   srv.listVolumes,
		"POST /volumes/create":           srv.createVolume,
		"GET /volumes/{name}":            srv.inspectVolume,
		"DELETE /volumes/{name}":         srv.removeVolume,
		"POST /volumes/prune":            srv.pruneVolumes,
	} {
		srv.mux.HandleFunc(pattern, h)
	}
	srv.mux.HandleFunc("/", srv.notYet)
}

// served are the first parts of the paths of docker's API.
var served = []string{"containers", "exec", "images", "build", "events", "networks", "volumes", "system", "auth", "commit", "session", "distribution", "plugins", "swarm", "nodes", "services", "tasks", "secrets", "configs"}

// notYet answers a path no route takes: an endpoint of docker's that
// tug does not serve (yet) gets a clear 501, anything else a 404.
func (srv *server) notYet(w http.ResponseWriter, r *http.Request) {
	first, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if !slices.Contains(served, first) {
		writeError(w, statusError{http.StatusNotFound, fmt.Errorf("page not found: %s %s", r.Method, r.URL.Path)})
		return
	}
	writeError(w, statusError{http.StatusNotImplemented, fmt.Errorf("tug's API does not serve %s %s", r.Method, r.URL.Path)})
}

// container looks up the container the path names.
func (srv *server) container(r *http.Request) (*store.Container, error) {
	return srv.Store.LookupContainer(r.PathValue("id"))
}

// withContainer runs h on the path's container, answering the lookup's
// error itself.
func (srv *server) withContainer(h func(http.ResponseWriter, *http.Request, *store.Container) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := srv.container(r)
		if err == nil {
			err = h(w, r, c)
		}
		if err != nil {
			writeError(w, err)
		}
	}
}

func (srv *server) listContainers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	filters, err := parseFilters(q.Get("filters"))
	if err != nil {
		writeError(w, err)
		return
	}
	last := -1
	if v := q.Get("limit"); v != "" {
		if last, err = strconv.Atoi(v); err != nil || last == 0 {
			last = -1
		}
	}
	rows, _, err := run.List(srv.Store, run.PsOptions{All: boolParam(q.Get("all")), Last: last, Filters: filters, NoTrunc: true, Size: boolParam(q.Get("size"))})
	if err != nil {
		writeError(w, err)
		return
	}
	out := make([]container.Summary, len(rows))
	for i := range rows {
		out[i] = summary(&rows[i])
	}
	writeJSON(w, http.StatusOK, out)
}

func (srv *server) inspectContainer(w http.ResponseWriter, r *http.Request) {
	srv.withContainer(func(w http.ResponseWriter, r *http.Request, c *store.Container) error {
		in, err := run.Inspect(srv.Store, c)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, inspectResponse(in))
		return nil
	})(w, r)
}

func (srv *server) startContainer(w http.ResponseWriter, r *http.Request) {
	srv.withContainer(func(w http.ResponseWriter, r *http.Request, c *store.Container) error {
		var err error
		if done := srv.attaches.claim(c.ID); done != nil {
			err = <-done
		} else {
			err = run.StartDetached(srv.Store, c)
		}
		if errors.Is(err, run.ErrRunning) {
			w.WriteHeader(http.StatusNotModified)
			return nil
		}
		if err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})(w, r)
}

// running tells whether c runs, for the verbs docker answers with 304
// when it does not.
func (srv *server) running(c *store.Container) (bool, error) {
	st, err := run.State(srv.Store, c)
	return err == nil && st.Status == store.StatusRunning, err
}

// stopTimeout reads ?t=SECONDS; negative: the container's own.
func stopTimeout(r *http.Request) (time.Duration, error) {
	v := r.URL.Query().Get("t")
	if v == "" {
		return -1, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, badRequest(fmt.Errorf("t %q: want seconds", v))
	}
	if n < 0 {
		return -1, nil
	}
	return time.Duration(n) * time.Second, nil
}

func (srv *server) stopContainer(w http.ResponseWriter, r *http.Request) {
	srv.withContainer(func(w http.ResponseWriter, r *http.Request, c *store.Container) error {
		timeout, err := stopTimeout(r)
		if err != nil {
			return err
		}
		if up, err := srv.running(c); err != nil || !up {
			w.WriteHeader(http.StatusNotModified)
			return err
		}
		if err := run.Stop(srv.Store, c, timeout); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})(w, r)
}

func (srv *server) restartContainer(r *http.Request, c *store.Container) error {
	timeout, err := stopTimeout(r)
	if err != nil {
		return err
	}
	return run.Restart(srv.Store, c, timeout)
}

func (srv *server) killContainer(r *http.Request, c *store.Container) error {
	name := r.URL.Query().Get("signal")
	if name == "" {
		name = "KILL"
	}
	sig, err := run.ParseSignal(name)
	if err != nil {
		return badRequest(err)
	}
	err = run.Signal(srv.Store, c, sig)
	if errors.Is(err, run.ErrNotRunning) {
		return fmt.Errorf("cannot kill container: %s: container %s is not running: %w", r.PathValue("id"), c.ID, run.ErrConflict)
	}
	return err
}

// waitContainer answers once the container meets ?condition=: it is not
// running (the default), it exits after this request (next-exit), or it
// is removed. The status line goes out at once, as docker's does, and
// the exit code once there is one.
func (srv *server) waitContainer(w http.ResponseWriter, r *http.Request) {
	srv.withContainer(func(w http.ResponseWriter, r *http.Request, c *store.Container) error {
		cond := r.URL.Query().Get("condition")
		switch cond {
		case "", "not-running", "next-exit", "removed":
		default:
			return badRequest(fmt.Errorf("condition %q: want not-running, next-exit or removed", cond))
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		code, err := waitFor(r, srv.Store, c, cond)
		resp := container.WaitResponse{StatusCode: int64(code)}
		if err != nil {
			resp.Error = &container.WaitExitError{Message: err.Error()}
		}
		json.NewEncoder(w).Encode(resp)
		return nil
	})(w, r)
}

// waitFor waits for cond (waitContainer's) and returns the exit code.
// It follows the events from the request on: the die event of a run
// that ends after it keeps the exit code even once --rm has removed the
// record, and destroy is the removal.
func waitFor(r *http.Request, s *store.Store, c *store.Container, cond string) (int, error) {
	since := time.Now()
	st, err := run.State(s, c)
	if err != nil {
		return 0, err
	}
	up := st.Status == store.StatusRunning || st.Status == store.StatusRestarting
	if !up && (cond == "" || cond == "not-running") {
		return st.ExitCode, nil
	}
	code := st.ExitCode
	errMet := errors.New("condition met")
	err = s.ReadEvents(store.EventOptions{Since: since, Follow: true, Stop: r.Context().Done()}, func(e store.Event) error {
		if e.Type != "container" || e.Actor.ID != c.ID {
			return nil
		}
		switch e.Action {
		case "die":
			code, _ = strconv.Atoi(e.Actor.Attributes["exitCode"])
			if cond != "removed" {
				return errMet
			}
		case "destroy":
			return errMet
		}
		return nil
	})
	if errors.Is(err, errMet) {
		return code, nil
	}
	if err == nil {
		err = errors.New("the client went away")
	}
	return code, err
}

func (srv *server) removeContainer(r *http.Request, c *store.Container) error {
	q := r.URL.Query()
	return run.RemoveRef(srv.Store, c.ID, run.RemoveOptions{Force: boolParam(q.Get("force")), Volumes: boolParam(q.Get("v")), Timeout: -1})
}

// boolParam reads a query flag as docker does: 1, true or True.
func boolParam(v string) bool {
	b, err := strconv.ParseBool(v)
	return err == nil && b
}

// filterValues reads ?filters=, a JSON map of names to values (or, in
// old clients, to sets of values).
func filterValues(v string) (map[string][]string, error) {
	out := map[string][]string{}
	if v == "" {
		return out, nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(v), &raw); err != nil {
		return nil, badRequest(fmt.Errorf("filters: %w", err))
	}
	for k, m := range raw {
		var list []string
		if err := json.Unmarshal(m, &list); err != nil {
			var set map[string]bool
			if err := json.Unmarshal(m, &set); err != nil {
				return nil, badRequest(fmt.Errorf("filters: %s: want a list of values", k))
			}
			for v := range set {
				list = append(list, v)
			}
		}
		out[k] = list
	}
	return out, nil
}

// flatFilters are filters as tug's --filter K=V flags, in key order.
func flatFilters(v string) ([]string, error) {
	m, err := filterValues(v)
	if err != nil {
		return nil, err
	}
	var flat []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		for _, v := range m[k] {
			flat = append(flat, k+"="+v)
		}
	}
	return flat, nil
}

// parseFilters reads ?filters= as ps's filters.
func parseFilters(v string) (run.Filters, error) {
	flat, err := flatFilters(v)
	if err != nil {
		return nil, err
	}
	f, err := run.ParseFilters(flat)
	if err != nil {
		return nil, badRequest(err)
	}
	return f, nil
}
