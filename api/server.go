// Package api serves the Docker Engine API from tug's store, for the
// clients that speak only that (the docker CLI, docker-compose,
// testcontainers). It keeps no state of its own: each request makes the
// library calls a command would make, under the same locks, so the CLI
// and the API agree at every moment, and a container started through
// the API belongs to its monitor and outlives the service. The service
// exits once it has been idle for a while (Options.Idle).
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/common"

	"tug/pull"
	"tug/run"
	"tug/store"
)

// The API versions served: the one advertised, and the oldest accepted.
const (
	Version    = "1.44"
	MinVersion = "1.24"
)

// Options configure a service.
type Options struct {
	Store *store.Store
	// Registries are where images/create pulls from (the config's).
	Registries pull.Registries
	// Defaults are the settings from the config that every container
	// created through the API gets (subnet, storage and cgroup manager).
	Defaults run.Options
	// Idle is how long the service waits with no request in flight
	// before it exits; 0 for never.
	Idle time.Duration
	// Version is tug's own, for /version and the Server header, with
	// the commit and its time.
	Version, GitCommit, BuildTime string
}

// server is one service's routes over its store.
type server struct {
	Options
	mux      *http.ServeMux
	idle     *idleTimer
	attaches attaches
	execs    execs
}

// Serve answers requests on l until the service has been idle for
// opt.Idle or ctx ends, then returns once the requests in flight are
// done.
func Serve(ctx context.Context, l net.Listener, opt Options) error {
	opt.Store.CacheRecords() // it lists the same records again and again
	srv := &server{Options: opt, mux: http.NewServeMux(), idle: newIdleTimer(opt.Idle)}
	srv.routes()
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 30 * time.Second}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(l) }()
	select {
	case <-ctx.Done():
	case <-srv.idle.expired():
	case err := <-done:
		return err
	}
	shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// hijacked streams (attach) are the handlers' own to end
	if err := hs.Shutdown(shut); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// splitVersion splits a path's API version prefix off: "1.44" and
// "/containers/json" for /v1.44/containers/json.
func splitVersion(path string) (version, rest string, ok bool) {
	v, rest, found := strings.Cut(strings.TrimPrefix(path, "/v"), "/")
	major, minor, dot := strings.Cut(v, ".")
	if !strings.HasPrefix(path, "/v") || !found || !dot || !digits(major) || !digits(minor) {
		return "", path, false
	}
	return v, "/" + rest, true
}

func digits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// ServeHTTP strips the version prefix, refuses versions older than
// MinVersion, sets docker's headers and counts the request as activity
// while it runs.
func (srv *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	srv.idle.begin()
	defer srv.idle.end()
	h := w.Header()
	h.Set("Api-Version", Version)
	h.Set("Ostype", "linux")
	h.Set("Server", "tug/"+srv.Version+" (linux)")
	h.Set("Docker-Experimental", "false")
	if v, rest, ok := splitVersion(r.URL.Path); ok {
		if older(v, MinVersion) {
			writeError(w, badRequest(fmt.Errorf("client version %s is too old. Minimum supported API version is %s, please upgrade your client to a newer version", v, MinVersion)))
			return
		}
		r.URL.Path, r.URL.RawPath = rest, ""
	}
	srv.mux.ServeHTTP(w, r)
}

// older tells whether API version a is before b.
func older(a, b string) bool {
	num := func(v string) (int, int) {
		major, minor, _ := strings.Cut(v, ".")
		x, _ := strconv.Atoi(major)
		y, _ := strconv.Atoi(minor)
		return x, y
	}
	ax, ay := num(a)
	bx, by := num(b)
	return ax < bx || ax == bx && ay < by
}

// idleTimer fires once no request has been in flight for its span.
type idleTimer struct {
	span   time.Duration
	mu     sync.Mutex
	active int
	timer  *time.Timer // nil with a span of 0
	fired  chan struct{}
}

func newIdleTimer(span time.Duration) *idleTimer {
	t := &idleTimer{span: span, fired: make(chan struct{})}
	if span > 0 {
		t.timer = time.AfterFunc(span, func() { close(t.fired) })
	}
	return t
}

// expired is closed when the service has been idle for the span.
func (t *idleTimer) expired() <-chan struct{} { return t.fired }

// begin marks a request (or an open stream) in flight.
func (t *idleTimer) begin() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.active++
	if t.timer != nil {
		t.timer.Stop()
	}
}

// end marks it done; the span starts again when none is left.
func (t *idleTimer) end() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.active--
	if t.active == 0 && t.timer != nil {
		select {
		case <-t.fired: // too late: the service is going
		default:
			t.timer.Reset(t.span)
		}
	}
}

// statusError is an error with the HTTP status docker gives it.
type statusError struct {
	code int
	err  error
}

func (e statusError) Error() string { return e.err.Error() }
func (e statusError) Unwrap() error { return e.err }

// badRequest is docker's 400: a parameter that is wrong.
func badRequest(err error) error { return statusError{http.StatusBadRequest, err} }

// statusOf is the status docker answers err with: 404 for what is not
// there, 409 for a conflict with the object's state, 400 for a bad
// parameter, else 500.
func statusOf(err error) int {
	var se statusError
	switch {
	case errors.As(err, &se):
		return se.code
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, run.ErrConflict), errors.Is(err, run.ErrNotRunning), errors.Is(err, store.ErrInUse), errors.Is(err, store.ErrNameInUse):
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}

// writeError answers with docker's error body, {"message": "…"}.
func writeError(w http.ResponseWriter, err error) {
	writeJSON(w, statusOf(err), common.ErrorResponse{Message: err.Error()})
}

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// decodeBody reads a JSON request body into v; an empty body leaves v
// as it is. Unknown fields are let through, as docker lets them.
func decodeBody(r *http.Request, v any) error {
	err := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 16<<20)).Decode(v)
	if err != nil && !errors.Is(err, io.EOF) {
		return badRequest(fmt.Errorf("the request body: %w", err))
	}
	return nil
}
