package api

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"tug/run"
	"tug/store"
)

// attaches are the attaches that wait for their container's start:
// docker's clients attach to a created container, then start it, and
// none of its output may be missed, so the start is made by the attach
// (run.StartStreams) that the start request hands it to.
type attaches struct {
	mu      sync.Mutex
	waiting map[string]chan chan error // by container ID
}

// wait registers an attach that waits for the start of container id:
// the start sends it where to report the start's outcome. cancel ends
// the wait; it tells false when a start claimed it first.
func (a *attaches) wait(id string) (start <-chan chan error, cancel func() bool, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.waiting == nil {
		a.waiting = map[string]chan chan error{}
	}
	if _, ok := a.waiting[id]; ok {
		return nil, nil, fmt.Errorf("another attach waits for the start of %s: %w", id[:12], run.ErrConflict)
	}
	ch := make(chan chan error, 1)
	a.waiting[id] = ch
	return ch, func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.waiting[id] != ch {
			return false
		}
		delete(a.waiting, id)
		return true
	}, nil
}

// claim hands the start of container id to the attach that waits for
// it, and returns where the outcome comes; nil when none waits.
func (a *attaches) claim(id string) <-chan error {
	a.mu.Lock()
	ch, ok := a.waiting[id]
	delete(a.waiting, id)
	a.mu.Unlock()
	if !ok {
		return nil
	}
	done := make(chan error, 1)
	ch <- done
	return done
}

// startWithin is how long an attach waits for its container's start.
// A client that has no stdin closes its side of the connection at once,
// so a read cannot tell whether it went away.
const startWithin = time.Minute

// attachContainer is POST /containers/ID/attach?stream=&logs=&stdin=&
// stdout=&stderr=: the connection is hijacked and carries the log so
// far (logs=1), then the streams (stream=1),
// raw for a container with a terminal, else in docker's multiplexed
// framing; stdin comes the other way. A running container is attached
// to at once; one that does not run yet is started by the start
// request, with this attach on from before its entrypoint runs.
func (srv *server) attachContainer(w http.ResponseWriter, r *http.Request) {
	srv.withContainer(func(w http.ResponseWriter, r *http.Request, c *store.Container) error {
		q := r.URL.Query()
		stream := boolParam(q.Get("stream"))
		in, err := run.Inspect(srv.Store, c)
		if err != nil {
			return err
		}
		var start <-chan chan error
		var cancel func() bool
		if !in.State.Running && stream {
			if start, cancel, err = srv.attaches.wait(c.ID); err != nil {
				return err
			}
			defer cancel()
		}
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return err
		}
		defer conn.Close()
		tty := in.Config.Tty
		if err := upgrade(conn, r, tty); err != nil {
			return nil
		}
		st, stop := streams(conn, buf.Reader, q, tty)
		defer stop()
		if boolParam(q.Get("logs")) { // what it wrote so far, first
			run.Logs(srv.Store, c, run.LogOptions{Tail: -1}, st.Stdout, st.Stderr)
		}
		if !stream {
			return nil
		}
		if start == nil {
			run.AttachStreams(srv.Store, c, st)
			return nil
		}
		select {
		case done := <-start:
			srv.startAttached(c, st, done)
		case <-time.After(startWithin):
			if !cancel() { // a start claimed it meanwhile
				srv.startAttached(c, st, <-start)
			}
		}
		return nil
	})(w, r)
}

// startAttached starts c with st attached, reporting the start's
// outcome on done, and returns once c has exited.
func (srv *server) startAttached(c *store.Container, st run.Streams, done chan error) {
	run.StartStreams(srv.Store, c, st, func(err error) { done <- err })
}

// upgrade answers the attach request on the hijacked connection: 101
// to a client that asked for the upgrade, as docker's do, else 200.
func upgrade(conn net.Conn, r *http.Request, tty bool) error {
	ct := "application/vnd.docker.multiplexed-stream"
	if tty {
		ct = "application/vnd.docker.raw-stream"
	}
	head := "HTTP/1.1 200 OK\r\nContent-Type: " + ct + "\r\n\r\n"
	if r.Header.Get("Upgrade") != "" {
		head = "HTTP/1.1 101 UPGRADED\r\nContent-Type: " + ct + "\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
	}
	_, err := io.WriteString(conn, head)
	return err
}

// streams are the attach's ends on the connection, as the query asks,
// watched for the client going away (watchClient); stop ends the watch.
func streams(conn net.Conn, in *bufio.Reader, q map[string][]string, tty bool) (st run.Streams, stop func()) {
	get := func(k string) bool { return len(q[k]) > 0 && boolParam(q[k][0]) }
	mu := &sync.Mutex{}
	st = run.Streams{Stdout: io.Discard, Stderr: io.Discard}
	if get("stdout") {
		st.Stdout = &framed{w: conn, mu: mu, stream: 1, raw: tty}
	}
	if get("stderr") {
		st.Stderr = &framed{w: conn, mu: mu, stream: 2, raw: tty}
	}
	if get("stdin") {
		st.Stdin = in
	}
	return st, watchClient(&st, &framed{w: conn, mu: mu, stream: 1}, tty)
}

// probeEvery is how often an attach without a terminal checks that its
// client is still there.
const probeEvery = 2 * time.Second

// watchClient sets st.Gone, closed once the client has gone: without a
// terminal, when an empty frame (which docker's demultiplexers skip)
// fails to go out through probe; on a terminal, where the stream has no
// framing to probe with, when the client's stdin ends, as it does only
// when the client goes. A client that keeps its stdin closed and its
// output quiet is not seen to go until the container writes.
func watchClient(st *run.Streams, probe io.Writer, tty bool) (stop func()) {
	gone := make(chan struct{})
	var once sync.Once
	leave := func() { once.Do(func() { close(gone) }) }
	st.Gone = gone
	if tty {
		if in := st.Stdin; in != nil {
			st.Stdin = readerFunc(func(p []byte) (int, error) {
				n, err := in.Read(p)
				if err != nil {
					leave()
				}
				return n, err
			})
		}
		return func() {}
	}
	quit := make(chan struct{})
	go func() {
		tick := time.NewTicker(probeEvery)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				return
			case <-tick.C:
				if _, err := probe.Write(nil); err != nil {
					leave()
					return
				}
			}
		}
	}()
	return func() { close(quit) }
}

// readerFunc is a func as an io.Reader.
type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// resizeContainer is POST /containers/ID/resize?h=&w=.
func (srv *server) resizeContainer(w http.ResponseWriter, r *http.Request) {
	srv.withContainer(func(w http.ResponseWriter, r *http.Request, c *store.Container) error {
		rows, cols, err := windowSize(r)
		if err == nil {
			err = run.Resize(srv.Store, c, rows, cols)
		}
		if err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	})(w, r)
}

// windowSize reads a resize's ?h=ROWS&w=COLS.
func windowSize(r *http.Request) (rows, cols uint16, err error) {
	q := r.URL.Query()
	h, herr := strconv.ParseUint(q.Get("h"), 10, 16)
	w, werr := strconv.ParseUint(q.Get("w"), 10, 16)
	if herr != nil || werr != nil {
		return 0, 0, badRequest(fmt.Errorf("resize: h=%q w=%q: want two sizes", q.Get("h"), q.Get("w")))
	}
	return uint16(h), uint16(w), nil
}
