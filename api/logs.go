package api

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"tug/run"
	"tug/store"
)

// containerLogs is GET /containers/ID/logs: the log as tug logs reads
// it, in docker's multiplexed framing (raw for a container with a
// terminal), flushed as it comes with follow=1.
func (srv *server) containerLogs(w http.ResponseWriter, r *http.Request) {
	srv.withContainer(func(w http.ResponseWriter, r *http.Request, c *store.Container) error {
		q := r.URL.Query()
		wantOut, wantErr := boolParam(q.Get("stdout")), boolParam(q.Get("stderr"))
		if !wantOut && !wantErr {
			return badRequest(errors.New("you must choose at least one stream"))
		}
		opt := run.LogOptions{Follow: boolParam(q.Get("follow")), Timestamps: boolParam(q.Get("timestamps")), Tail: -1}
		if t := q.Get("tail"); t != "" && t != "all" {
			n, err := strconv.Atoi(t)
			if err != nil || n < 0 {
				return badRequest(fmt.Errorf("tail %q: want a number of lines or all", t))
			}
			opt.Tail = n
		}
		var err error
		if opt.Since, err = unixTime(q.Get("since")); err != nil {
			return err
		}
		if opt.Until, err = unixTime(q.Get("until")); err != nil {
			return err
		}
		in, err := run.Inspect(srv.Store, c)
		if err != nil {
			return err
		}
		tty := in.Config.Tty
		ct := "application/vnd.docker.multiplexed-stream"
		if tty {
			ct = "application/vnd.docker.raw-stream"
		}
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(http.StatusOK)
		mu := &sync.Mutex{}
		rc := http.NewResponseController(w)
		stdout, stderr := io.Discard, io.Discard
		if wantOut {
			stdout = &framed{w: w, rc: rc, mu: mu, stream: 1, raw: tty}
		}
		if wantErr {
			stderr = &framed{w: w, rc: rc, mu: mu, stream: 2, raw: tty}
		}
		if err := run.Logs(srv.Store, c, opt, stdout, stderr); err != nil {
			// the status is out: the error goes where the client reads
			fmt.Fprintf(stderr, "tug: %s\n", err)
		}
		return nil
	})(w, r)
}

// unixTime reads since= and until=: seconds since the epoch, with a
// fraction; "" is the zero time.
func unixTime(v string) (time.Time, error) {
	if v == "" || v == "0" {
		return time.Time{}, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return time.Time{}, badRequest(fmt.Errorf("%q: want seconds since the epoch", v))
	}
	return time.Unix(0, int64(f*1e9)), nil
}

// framed writes one stream of docker's multiplexed framing: each write
// is a frame, an 8-byte header (the stream: 1 stdout, 2 stderr; the
// length, big-endian) and its bytes; raw, the bytes alone.
type framed struct {
	w      io.Writer
	rc     *http.ResponseController // nil on a hijacked connection
	mu     *sync.Mutex              // the streams share the connection
	stream byte
	raw    bool
}

func (f *framed) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.raw {
		var hdr [8]byte
		hdr[0] = f.stream
		binary.BigEndian.PutUint32(hdr[4:], uint32(len(p)))
		if _, err := f.w.Write(hdr[:]); err != nil {
			return 0, err
		}
	}
	n, err := f.w.Write(p)
	if f.rc != nil {
		f.rc.Flush()
	}
	return n, err
}
