package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/jsonstream"

	"tug/pull"
	"tug/store"
)

// familiar is an image name as docker shows it: busybox:latest for
// docker.io/library/busybox:latest.
func familiar(name string) string {
	name = strings.TrimPrefix(name, "docker.io/")
	return strings.TrimPrefix(name, "library/")
}

func familiars(names []string) []string {
	out := []string{}
	for _, n := range names {
		out = append(out, familiar(n))
	}
	return out
}

func (srv *server) listImages(w http.ResponseWriter, r *http.Request) {
	imgs, err := srv.Store.Images()
	if err != nil {
		writeError(w, err)
		return
	}
	out := []image.Summary{}
	for _, img := range imgs {
		if img.Hidden() {
			continue
		}
		out = append(out, imageSummary(img))
	}
	writeJSON(w, http.StatusOK, out)
}

// imageSummary is an image as /images/json lists it.
func imageSummary(img *store.Image) image.Summary {
	return image.Summary{
		ID: img.ID.String(), RepoTags: familiars(img.Names), RepoDigests: familiars(img.Digests),
		Created: img.Created.Unix(), Size: img.Size, Labels: map[string]string{}, Containers: -1, SharedSize: -1,
	}
}

// imageByName is GET /images/NAME/json and /images/NAME/history: a
// name may hold slashes, so the route takes the rest of the path and
// splits the verb off.
func (srv *server) imageByName(w http.ResponseWriter, r *http.Request) {
	ref, verb, _ := cutLast(r.PathValue("name"), "/")
	switch verb {
	case "json":
		srv.inspectImage(w, ref)
	case "history":
		srv.imageHistory(w, ref)
	default:
		srv.notYet(w, r)
	}
}

// imageVerb is POST /images/NAME/tag?repo=&tag= and /images/NAME/push.
func (srv *server) imageVerb(w http.ResponseWriter, r *http.Request) {
	ref, verb, _ := cutLast(r.PathValue("name"), "/")
	switch verb {
	case "push":
		srv.pushImage(w, r, ref)
		return
	case "tag":
	default:
		srv.notYet(w, r)
		return
	}
	q := r.URL.Query()
	target := q.Get("repo")
	if t := q.Get("tag"); t != "" {
		target += ":" + t
	}
	if err := srv.Store.Tag(ref, target); err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			err = badRequest(err)
		}
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusCreated)
}

// removeImage is DELETE /images/NAME?force=: docker's rmi.
func (srv *server) removeImage(w http.ResponseWriter, r *http.Request) {
	res, err := srv.Store.RemoveImage(r.PathValue("name"), boolParam(r.URL.Query().Get("force")))
	if err != nil {
		writeError(w, err)
		return
	}
	out := []image.DeleteResponse{}
	for _, n := range res.Untagged {
		out = append(out, image.DeleteResponse{Untagged: familiar(n)})
	}
	if res.Deleted != nil {
		out = append(out, image.DeleteResponse{Deleted: res.Deleted.ID.String()})
	}
	writeJSON(w, http.StatusOK, out)
}

// imageHistory is GET /images/NAME/history: the config's history,
// newest first, the image's ID on the newest step.
func (srv *server) imageHistory(w http.ResponseWriter, ref string) {
	img, err := srv.Store.LookupImage(ref)
	var cfg *v1.ConfigFile
	if err == nil {
		cfg, err = srv.Store.Config(img)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	out := []image.HistoryResponseItem{}
	for i := len(cfg.History) - 1; i >= 0; i-- {
		h := cfg.History[i]
		item := image.HistoryResponseItem{ID: "<missing>", Created: h.Created.Unix(), CreatedBy: h.CreatedBy, Comment: h.Comment, Tags: []string{}}
		if len(out) == 0 {
			item.ID, item.Tags = img.ID.String(), familiars(img.Names)
		}
		out = append(out, item)
	}
	writeJSON(w, http.StatusOK, out)
}

// inspectImage is GET /images/NAME/json.
func (srv *server) inspectImage(w http.ResponseWriter, ref string) {
	img, err := srv.Store.LookupImage(ref)
	if err != nil {
		writeError(w, err)
		return
	}
	cfg, err := srv.Store.Config(img)
	if err != nil {
		writeError(w, err)
		return
	}
	out := image.InspectResponse{
		ID: img.ID.String(), RepoTags: familiars(img.Names), RepoDigests: familiars(img.Digests),
		Created: img.Created.UTC().Format("2006-01-02T15:04:05.999999999Z07:00"), Author: cfg.Author,
		Architecture: cfg.Architecture, Variant: cfg.Variant, Os: cfg.OS, Size: img.Size,
		RootFS: image.RootFS{Type: "layers"},
	}
	for _, d := range cfg.RootFS.DiffIDs {
		out.RootFS.Layers = append(out.RootFS.Layers, d.String())
	}
	// the image's config has the same JSON names in both types
	if b, err := json.Marshal(cfg.Config); err == nil {
		json.Unmarshal(b, &out.Config)
	}
	writeJSON(w, http.StatusOK, out)
}

// cutLast splits s around the last sep.
func cutLast(s, sep string) (before, after string, ok bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

// pullImage is POST /images/create?fromImage=&tag=: a pull, reported
// as docker's stream of JSON messages, one per layer event. An error
// after the status line is the stream's last message, as docker's is.
func (srv *server) pullImage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ref := q.Get("fromImage")
	if ref == "" {
		writeError(w, badRequest(errors.New("fromImage: no image given (importing from fromSrc is not served)")))
		return
	}
	if tag := q.Get("tag"); tag != "" {
		sep := ":"
		if strings.HasPrefix(tag, "sha256:") {
			sep = "@"
		}
		ref += sep + tag
	}
	if _, err := store.ParseReference(ref); err != nil {
		writeError(w, badRequest(err))
		return
	}
	regs, err := srv.registriesFor(r)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	out := &messages{w: w, rc: http.NewResponseController(w)}
	repo, tag, _ := cutLast(familiar(ref), ":")
	out.send(jsonstream.Message{Status: "Pulling from " + repo, ID: tag})
	img, err := pull.Pull(r.Context(), srv.Store, ref, pull.Options{Registries: regs, Reporter: out})
	if err != nil {
		out.send(jsonstream.Message{Error: &jsonstream.Error{Message: err.Error()}})
		return
	}
	if len(img.Digests) > 0 {
		_, digest, _ := strings.Cut(img.Digests[0], "@")
		out.send(jsonstream.Message{Status: "Digest: " + digest})
	}
	status := "Status: Image is up to date for "
	if out.fetched.Load() {
		status = "Status: Downloaded newer image for "
	}
	out.send(jsonstream.Message{Status: status + familiar(ref)})
}

// messages is a stream of JSON messages, safe for the reporters of
// layers pulled at once.
type messages struct {
	mu      sync.Mutex
	w       http.ResponseWriter
	rc      *http.ResponseController
	fetched atomic.Bool // a layer was pulled, not found here
}

func (m *messages) send(msg jsonstream.Message) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if msg.Error != nil {
		// docker's clients read the error from both fields
		b, _ := json.Marshal(struct {
			jsonstream.Message
			Err string `json:"error"`
		}{msg, msg.Error.Message})
		m.w.Write(append(b, '\n'))
	} else {
		json.NewEncoder(m.w).Encode(msg)
	}
	m.rc.Flush()
}

// Layer starts a layer's messages: store.Reporter.
func (m *messages) Layer(digest v1.Hash, size int64) store.LayerReporter {
	id := digest.Hex[:12]
	m.send(jsonstream.Message{Status: "Pulling fs layer", ID: id, Progress: &jsonstream.Progress{}})
	return &layerMessages{m: m, id: id, total: size}
}

// layerMessages reports one layer's download.
type layerMessages struct {
	m       *messages
	id      string
	current int64
	total   int64
	sent    int64
}

// Add reports bytes read, a message per MiB.
func (l *layerMessages) Add(n int) {
	l.current += int64(n)
	if l.current-l.sent >= 1<<20 {
		l.sent = l.current
		l.m.send(jsonstream.Message{Status: "Downloading", ID: l.id, Progress: &jsonstream.Progress{Current: l.current, Total: l.total}})
	}
}

// Done reports the layer's end.
func (l *layerMessages) Done(exists bool, err error) {
	switch {
	case err != nil:
		return // the pull's error ends the stream
	case exists:
		l.m.send(jsonstream.Message{Status: "Already exists", ID: l.id, Progress: &jsonstream.Progress{}})
	default:
		l.m.fetched.Store(true)
		l.m.send(jsonstream.Message{Status: "Pull complete", ID: l.id, Progress: &jsonstream.Progress{}})
	}
}
