package api

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/moby/moby/api/types/events"

	"tug/store"
)

// eventMessage is an event as docker's API sends it: the message, and
// for containers the old status, id and from fields, which 1.44's
// clients (docker-py among them) still read.
type eventMessage struct {
	Status string `json:"status,omitempty"`
	ID     string `json:"id,omitempty"`
	From   string `json:"from,omitempty"`
	events.Message
}

// streamEvents is GET /events?since=&until=&filters=: the store's
// events, those from since on, then the new ones as they come, until
// until or the client goes; each a JSON object, flushed.
func (srv *server) streamEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	flat, err := flatFilters(q.Get("filters"))
	if err != nil {
		writeError(w, err)
		return
	}
	filter, err := store.ParseEventFilters(flat)
	if err != nil {
		writeError(w, badRequest(err))
		return
	}
	opt := store.EventOptions{Follow: true, Stop: r.Context().Done()}
	if opt.Since, err = unixTime(q.Get("since")); err == nil {
		opt.Until, err = unixTime(q.Get("until"))
	}
	if err != nil {
		writeError(w, err)
		return
	}
	if opt.Since.IsZero() {
		opt.Since = time.Now() // docker sends only what comes, unless asked
	}
	if !opt.Until.IsZero() && !opt.Until.After(time.Now()) {
		opt.Follow = false
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	rc.Flush()
	enc := json.NewEncoder(w)
	srv.Store.ReadEvents(opt, func(e store.Event) error {
		if !filter.Match(e) {
			return nil
		}
		m := eventMessage{Status: e.Status, ID: e.ID, From: e.From, Message: events.Message{
			Type: events.Type(e.Type), Action: events.Action(e.Action), Scope: e.Scope, Time: e.Time, TimeNano: e.TimeNano,
			Actor: events.Actor{ID: e.Actor.ID, Attributes: e.Actor.Attributes},
		}}
		if e.Type == "network" {
			m.Actor.ID = networkID(apiNetwork(e.Actor.ID))
		}
		if err := enc.Encode(m); err != nil {
			return err
		}
		return rc.Flush()
	})
}
