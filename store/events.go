package store

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Event is one line of the event log, in docker's shape (docker events
// --format '{{json .}}').
type Event struct {
	Status   string `json:"status,omitempty"` // docker's old fields, for containers
	ID       string `json:"id,omitempty"`
	From     string `json:"from,omitempty"`
	Type     string `json:"Type"` // container, image, network, volume
	Action   string `json:"Action"`
	Actor    Actor  `json:"Actor"`
	Scope    string `json:"scope"`
	Time     int64  `json:"time"`
	TimeNano int64  `json:"timeNano"`
}

// Actor is what an event happened to.
type Actor struct {
	ID         string            `json:"ID"`
	Attributes map[string]string `json:"Attributes"`
}

// maxEventLog is the size past which the log is rotated: the current
// file becomes events.log.1 (one older file is kept).
const maxEventLog = 1 << 20

func (s *Store) eventLog() string { return filepath.Join(s.root, "events.log") }

// Emit appends an event to the log. Each event is one write(2) of one
// line to a file opened O_APPEND, which the kernel makes atomic against
// other appenders: many tugs write at once without losing or
// interleaving lines. An event that cannot be written is dropped: it
// never fails the command.
func (s *Store) Emit(typ, action, id string, attrs map[string]string) {
	now := time.Now()
	e := Event{Type: typ, Action: action, Actor: Actor{ID: id, Attributes: attrs}, Scope: "local", Time: now.Unix(), TimeNano: now.UnixNano()}
	if e.Actor.Attributes == nil {
		e.Actor.Attributes = map[string]string{}
	}
	if typ == "container" {
		e.Status, e.ID, e.From = action, id, attrs["image"]
	}
	line, err := json.Marshal(e)
	if err != nil {
		return
	}
	s.rotateEvents()
	f, err := os.OpenFile(s.eventLog(), os.O_WRONLY|os.O_APPEND|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return
	}
	defer f.Close()
	f.Write(append(line, '\n'))
}

// rotateEvents moves a full log aside, under a lock so that one tug
// does it.
func (s *Store) rotateEvents() {
	fi, err := os.Stat(s.eventLog())
	if err != nil || fi.Size() < maxEventLog {
		return
	}
	lock, err := lockPath(s.lockFile("events"))
	if err != nil {
		return
	}
	defer lock.Unlock()
	if fi, err := os.Stat(s.eventLog()); err == nil && fi.Size() >= maxEventLog {
		os.Rename(s.eventLog(), s.eventLog()+".1")
	}
}

// EventOptions choose the events ReadEvents gives.
type EventOptions struct {
	Since, Until time.Time // zero: from the log's start; until none (follow)
	Follow       bool      // wait for new events until Until, or for ever
	Stop         <-chan struct{}
	wait         func(time.Duration) // until the log may have grown, at most that long
}

// seekTail is how much of the log's end seekSince looks at first.
const seekTail = 64 << 10

// seekSince moves f, the log, to where the events from since on start,
// when they are all in its last seekTail bytes: the first whole line
// there is more than a second older than since. Otherwise f stays at the start. A wait for
// an event from now on so reads a little of the log, not all of it.
func seekSince(f *os.File, since time.Time) {
	fi, err := f.Stat()
	if since.IsZero() || err != nil || fi.Size() <= seekTail {
		return
	}
	off := fi.Size() - seekTail
	buf := make([]byte, 4096)
	n, _ := f.ReadAt(buf, off)
	nl := bytes.IndexByte(buf[:n], '\n')
	if nl < 0 {
		return
	}
	line := buf[nl+1 : n]
	if end := bytes.IndexByte(line, '\n'); end >= 0 {
		line = line[:end]
	}
	var e Event
	// a second's margin: writers' times and the order of their
	// appends may disagree by a little
	if json.Unmarshal(line, &e) != nil || !time.Unix(0, e.TimeNano).Before(since.Add(-time.Second)) {
		return
	}
	f.Seek(off+int64(nl)+1, io.SeekStart)
}

// logWaiter wakes a follower as soon as a file of the store's root (the
// event log among them) is written, made or renamed, through inotify;
// without inotify it sleeps the whole span.
type logWaiter struct{ fd int }

func newLogWaiter(root string) logWaiter {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return logWaiter{-1}
	}
	if _, err := unix.InotifyAddWatch(fd, root, unix.IN_MODIFY|unix.IN_CREATE|unix.IN_MOVED_TO); err != nil {
		unix.Close(fd)
		return logWaiter{-1}
	}
	return logWaiter{fd}
}

// wait returns once the root has changed, or after at most d.
func (w logWaiter) wait(d time.Duration) {
	if w.fd < 0 {
		time.Sleep(d)
		return
	}
	unix.Poll([]unix.PollFd{{Fd: int32(w.fd), Events: unix.POLLIN}}, int(d.Milliseconds()))
	buf := make([]byte, 4096)
	for {
		if n, err := unix.Read(w.fd, buf); n <= 0 || err != nil {
			return
		}
	}
}

func (w logWaiter) close() {
	if w.fd >= 0 {
		unix.Close(w.fd)
	}
}

// ReadEvents calls fn for each event in the log from Since, the older
// file first; following, it then waits for new ones (the log rotated
// meanwhile is read to its end first) until Until or Stop.
func (s *Store) ReadEvents(opt EventOptions, fn func(Event) error) error {
	if fi, err := os.Stat(s.eventLog() + ".1"); err == nil && !fi.ModTime().Before(opt.Since) {
		if err := s.readEventFile(s.eventLog()+".1", opt, fn); err != nil {
			return err
		}
	}
	if opt.Follow {
		w := newLogWaiter(s.root)
		defer w.close()
		opt.wait = w.wait
	}
	f, err := os.Open(s.eventLog())
	if errors.Is(err, os.ErrNotExist) && opt.Follow {
		f, err = waitEventLog(s.eventLog(), opt)
	}
	if errors.Is(err, os.ErrNotExist) || f == nil && err == nil {
		return nil
	}
	if err != nil {
		return fmt.Errorf("events: %w", err)
	}
	defer func() { f.Close() }()
	seekSince(f, opt.Since)
	r := bufio.NewReader(f)
	var partial []byte
	for {
		line, err := r.ReadBytes('\n')
		if err == nil {
			line = append(partial, line...)
			partial = nil
			if done, err := deliver(line, opt, fn); done || err != nil {
				return err
			}
			continue
		}
		if err != io.EOF {
			return fmt.Errorf("events: %w", err)
		}
		partial = append(partial, line...)
		if !opt.Follow || waitMore(opt) {
			return nil
		}
		if rotated(f, s.eventLog()) {
			rest, _ := io.ReadAll(r) // what was appended before the rename
			for _, l := range bytes.SplitAfter(append(partial, rest...), []byte("\n")) {
				if done, err := deliver(l, opt, fn); done || err != nil {
					return err
				}
			}
			partial = nil
			nf, err := os.Open(s.eventLog())
			if err != nil {
				continue // not made again yet
			}
			f.Close()
			f, r = nf, bufio.NewReader(nf)
		}
	}
}

// readEventFile delivers the events of one whole file.
func (s *Store) readEventFile(name string, opt EventOptions, fn func(Event) error) error {
	b, err := os.ReadFile(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("events: %w", err)
	}
	for _, line := range bytes.SplitAfter(b, []byte("\n")) {
		if _, err := deliver(line, opt, fn); err != nil {
			return err
		}
	}
	return nil
}

// deliver gives fn the event of line if it is in the time window; done
// says the window is over.
func deliver(line []byte, opt EventOptions, fn func(Event) error) (done bool, err error) {
	var e Event
	if len(bytes.TrimSpace(line)) == 0 || json.Unmarshal(line, &e) != nil {
		return false, nil // a torn or damaged line
	}
	t := time.Unix(0, e.TimeNano)
	if !opt.Until.IsZero() && t.After(opt.Until) {
		return true, nil
	}
	if !opt.Since.IsZero() && t.Before(opt.Since) {
		return false, nil
	}
	return false, fn(e)
}

// waitMore waits a little while following, until the log may have
// grown; it tells whether following is over (Until passed, or Stop).
func waitMore(opt EventOptions) bool {
	if !opt.Until.IsZero() && time.Now().After(opt.Until) {
		return true
	}
	select {
	case <-opt.Stop:
		return true
	default:
	}
	if opt.wait == nil {
		time.Sleep(100 * time.Millisecond)
	} else {
		opt.wait(100 * time.Millisecond)
	}
	select {
	case <-opt.Stop:
		return true
	default:
		return false
	}
}

// waitEventLog waits for the log to be made.
func waitEventLog(name string, opt EventOptions) (*os.File, error) {
	for {
		f, err := os.Open(name)
		if !errors.Is(err, os.ErrNotExist) {
			return f, err
		}
		if waitMore(opt) {
			return nil, nil
		}
	}
}

// rotated tells whether name is no longer the file f has open.
func rotated(f *os.File, name string) bool {
	a, err1 := f.Stat()
	b, err2 := os.Stat(name)
	return err1 != nil || err2 != nil || !os.SameFile(a, b)
}

// EventFilter is events' --filter key=value pairs: values of one key
// are ORed, keys ANDed.
type EventFilter map[string][]string

// ParseEventFilters reads --filter type=|event=|container=|image=|
// label=K[=V]|network=|volume=.
func ParseEventFilters(fs []string) (EventFilter, error) {
	out := EventFilter{}
	for _, f := range fs {
		k, v, ok := strings.Cut(f, "=")
		switch k {
		case "type", "event", "container", "image", "label", "network", "volume":
		default:
			ok = false
		}
		if !ok || v == "" {
			return nil, fmt.Errorf("--filter %q: want type=, event=, container=, image=, label=, network= or volume=", f)
		}
		out[k] = append(out[k], v)
	}
	return out, nil
}

// Match tells whether e passes the filter.
func (f EventFilter) Match(e Event) bool {
	actor := func(typ string) func(string) bool {
		return func(v string) bool {
			return e.Type == typ && (strings.HasPrefix(e.Actor.ID, v) || e.Actor.Attributes["name"] == v)
		}
	}
	return f.any("type", func(v string) bool { return e.Type == v }) &&
		f.any("event", func(v string) bool { return e.Action == v || strings.HasPrefix(e.Action, v+":") }) &&
		f.any("container", actor("container")) &&
		f.any("image", func(v string) bool {
			return e.Actor.Attributes["image"] == v || e.Type == "image" && (strings.HasPrefix(e.Actor.ID, v) || e.Actor.Attributes["name"] == v)
		}) &&
		f.any("network", actor("network")) &&
		f.any("volume", actor("volume")) &&
		// labels are all to match, as docker's label filters are
		!slices.ContainsFunc(f["label"], func(v string) bool {
			k, want, hasValue := strings.Cut(v, "=")
			got, ok := e.Actor.Attributes[k]
			return !ok || hasValue && got != want
		})
}

func (f EventFilter) any(key string, ok func(string) bool) bool {
	vs := f[key]
	if len(vs) == 0 {
		return true
	}
	return slices.ContainsFunc(vs, ok)
}
