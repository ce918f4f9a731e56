package api

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/moby/moby/api/types/common"
	"github.com/moby/moby/api/types/container"

	"tug/run"
	"tug/store"
)

// execs are the exec instances made through the API: docker's clients
// create one, start it, then read its exit code by inspecting it. They
// live as long as the service, as docker's live in its daemon.
type execs struct {
	mu  sync.Mutex
	all map[string]*execInstance
}

// execInstance is one exec's request and, once it ran, its end.
type execInstance struct {
	id, container string
	req           container.ExecCreateRequest
	running       bool
	code          *int
	sizes         chan [2]uint16 // its terminal's sizes, until it ends
}

func (e *execs) add(x *execInstance) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.all == nil {
		e.all = map[string]*execInstance{}
	}
	e.all[x.id] = x
}

// get returns a copy of the exec id, for reading.
func (e *execs) get(id string) (execInstance, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.all[id]
	if !ok {
		return execInstance{}, &store.NoSuch{Kind: "exec instance", Name: id}
	}
	return *x, nil
}

// begin marks the exec id started; it may start once.
func (e *execs) begin(id string) (execInstance, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.all[id]
	switch {
	case !ok:
		return execInstance{}, &store.NoSuch{Kind: "exec instance", Name: id}
	case x.running || x.code != nil:
		return execInstance{}, fmt.Errorf("exec %s has been started already: %w", id[:12], run.ErrConflict)
	}
	x.running = true
	return *x, nil
}

// finish records the exec's exit code.
func (e *execs) finish(id string, code int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.all[id]; ok {
		x.running, x.code = false, &code
		close(x.sizes)
		x.sizes = nil
	}
}

// resize sends the exec's terminal a size, unless it has ended.
func (e *execs) resize(id string, rows, cols uint16) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.all[id]
	if !ok {
		return &store.NoSuch{Kind: "exec instance", Name: id}
	}
	if x.sizes != nil {
		select {
		case x.sizes <- [2]uint16{rows, cols}:
		default: // a size not taken yet is overtaken by this one
		}
	}
	return nil
}

// createExec is POST /containers/ID/exec.
func (srv *server) createExec(w http.ResponseWriter, r *http.Request) {
	srv.withContainer(func(w http.ResponseWriter, r *http.Request, c *store.Container) error {
		var req container.ExecCreateRequest
		if err := decodeBody(r, &req); err != nil {
			return err
		}
		if len(req.Cmd) == 0 {
			return badRequest(errors.New("no exec command specified"))
		}
		if up, err := srv.running(c); err != nil || !up {
			return cmpErr(err, fmt.Errorf("container %s is not running: %w", c.ID, run.ErrConflict))
		}
		b := make([]byte, 32)
		rand.Read(b)
		x := &execInstance{id: hex.EncodeToString(b), container: c.ID, req: req, sizes: make(chan [2]uint16, 4)}
		if sz := req.ConsoleSize; sz != nil && sz[0] > 0 && sz[1] > 0 {
			x.sizes <- [2]uint16{uint16(sz[0]), uint16(sz[1])}
		}
		srv.execs.add(x)
		writeJSON(w, http.StatusCreated, common.IDResponse{ID: x.id})
		return nil
	})(w, r)
}

// cmpErr is err, or else fallback.
func cmpErr(err, fallback error) error {
	if err != nil {
		return err
	}
	return fallback
}

// startExec is POST /exec/ID/start: detached, the command runs on while
// the service counts it as activity; attached, the connection is
// hijacked and carries its streams, as an attach's.
func (srv *server) startExec(w http.ResponseWriter, r *http.Request) {
	var req container.ExecStartRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	x, err := srv.execs.begin(r.PathValue("id"))
	var c *store.Container
	if err == nil {
		c, err = srv.Store.LookupContainer(x.container)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	opt := run.ExecOptions{Args: x.req.Cmd, Env: x.req.Env, Workdir: x.req.WorkingDir, User: x.req.User, Tty: x.req.Tty || req.Tty, Interactive: x.req.AttachStdin, Privileged: x.req.Privileged}
	if req.Detach {
		srv.idle.begin()
		go func() {
			defer srv.idle.end()
			code, _ := run.ExecStreams(srv.Store, c, opt, run.Streams{Stdout: io.Discard, Stderr: io.Discard})
			srv.execs.finish(x.id, code)
		}()
		w.WriteHeader(http.StatusOK)
		return
	}
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		srv.execs.finish(x.id, 126)
		writeError(w, err)
		return
	}
	defer conn.Close()
	if err := upgrade(conn, r, opt.Tty); err != nil {
		srv.execs.finish(x.id, 126)
		return
	}
	q := map[string][]string{"stdout": {fmt.Sprint(x.req.AttachStdout)}, "stderr": {fmt.Sprint(x.req.AttachStderr)}, "stdin": {fmt.Sprint(x.req.AttachStdin)}}
	st, stop := streams(conn, buf.Reader, q, opt.Tty)
	defer stop()
	st.Resize = x.sizes
	code, err := run.ExecStreams(srv.Store, c, opt, st)
	if err != nil {
		// the status line is out: the error goes where the client reads
		fmt.Fprintf(st.Stderr, "tug: %s\n", err)
		if code == 0 {
			code = 126
		}
	}
	srv.execs.finish(x.id, code)
}

// inspectExec is GET /exec/ID/json.
func (srv *server) inspectExec(w http.ResponseWriter, r *http.Request) {
	x, err := srv.execs.get(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, container.ExecInspectResponse{
		ID: x.id, Running: x.running, ExitCode: x.code, ContainerID: x.container,
		OpenStdin: x.req.AttachStdin, OpenStdout: x.req.AttachStdout, OpenStderr: x.req.AttachStderr,
		ProcessConfig: &container.ExecProcessConfig{Tty: x.req.Tty, Entrypoint: x.req.Cmd[0], Arguments: x.req.Cmd[1:], User: x.req.User, Privileged: &x.req.Privileged},
	})
}

// resizeExec is POST /exec/ID/resize?h=&w=.
func (srv *server) resizeExec(w http.ResponseWriter, r *http.Request) {
	rows, cols, err := windowSize(r)
	if err == nil {
		err = srv.execs.resize(r.PathValue("id"), rows, cols)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}
