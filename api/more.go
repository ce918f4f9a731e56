package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/api/types/volume"

	"tug/build"
	"tug/pull"
	"tug/run"
	"tug/store"
)

// auth is POST /auth: the credentials checked against the registry,
// stored nowhere (the client keeps them, and sends them with a push).
func (srv *server) auth(w http.ResponseWriter, r *http.Request) {
	var req registry.AuthConfig
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	addr := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(req.ServerAddress, "https://"), "http://"), "/v1/")
	if addr == "index.docker.io" {
		addr = "docker.io"
	}
	if err := pull.CheckLogin(r.Context(), addr, req.Username, req.Password, srv.Registries); err != nil {
		writeError(w, statusError{http.StatusUnauthorized, err})
		return
	}
	writeJSON(w, http.StatusOK, registry.AuthResponse{Status: "Login Succeeded"})
}

// diskUsage is GET /system/df in API 1.44's shape: the images, the
// containers and the volumes, with the layers' size in all.
func (srv *server) diskUsage(w http.ResponseWriter, r *http.Request) {
	uses, err := run.DiskUsage(srv.Store)
	if err != nil {
		writeError(w, err)
		return
	}
	out := struct {
		LayersSize int64
		Images     []image.Summary
		Containers []container.Summary
		Volumes    []volume.Volume
		BuildCache []struct{}
	}{Images: []image.Summary{}, Containers: []container.Summary{}, Volumes: []volume.Volume{}, BuildCache: []struct{}{}}
	for _, u := range uses {
		if u.Type == "Images" {
			out.LayersSize = u.Size
		}
	}
	if imgs, err := srv.Store.Images(); err == nil {
		for _, img := range imgs {
			if !img.Hidden() {
				out.Images = append(out.Images, imageSummary(img))
			}
		}
	}
	if ctrs, _, err := run.List(srv.Store, run.PsOptions{All: true, Last: -1, NoTrunc: true, Size: true}); err == nil {
		for i := range ctrs {
			out.Containers = append(out.Containers, summary(&ctrs[i]))
		}
	}
	if vols, err := srv.Store.Volumes(); err == nil {
		for _, v := range vols {
			out.Volumes = append(out.Volumes, srv.volumeOf(v))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// pruneImages is POST /images/prune: the dangling images, or with the
// filter dangling=false every one no container uses. The space their
// layers freed is not counted (layers are shared): 0.
func (srv *server) pruneImages(w http.ResponseWriter, r *http.Request) {
	filters, err := filterValues(r.URL.Query().Get("filters"))
	if err != nil {
		writeError(w, err)
		return
	}
	all := len(filters["dangling"]) > 0 && (filters["dangling"][0] == "false" || filters["dangling"][0] == "0")
	gone, err := srv.Store.PruneImages(all)
	if err != nil {
		writeError(w, err)
		return
	}
	out := image.PruneReport{ImagesDeleted: []image.DeleteResponse{}}
	for _, img := range gone {
		out.ImagesDeleted = append(out.ImagesDeleted, image.DeleteResponse{Deleted: img.ID.String()})
	}
	writeJSON(w, http.StatusOK, out)
}

// searchImages is GET /images/search: there is no index to search here.
func (srv *server) searchImages(w http.ResponseWriter, r *http.Request) {
	writeError(w, statusError{http.StatusNotImplemented, errors.New("tug does not search registries: there is no index to ask; pull a name you know")})
}

// saveImages is GET /images/get?names=…: a docker-archive, as tug save.
func (srv *server) saveImages(w http.ResponseWriter, r *http.Request) {
	names := r.URL.Query()["names"]
	for _, n := range names {
		if _, err := srv.Store.LookupImage(n); err != nil {
			writeError(w, err)
			return
		}
	}
	w.Header().Set("Content-Type", "application/x-tar")
	w.WriteHeader(http.StatusOK)
	pull.Save(srv.Store, names, pull.SaveOptions{}, w) // an error cuts the tar short
}

// loadImages is POST /images/load: the body as tug load reads it, and
// docker's stream of what was loaded.
func (srv *server) loadImages(w http.ResponseWriter, r *http.Request) {
	imgs, err := pull.Load(r.Context(), srv.Store, r.Body, pull.LoadOptions{})
	if err != nil {
		writeError(w, badRequest(err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	out := &messages{w: w, rc: http.NewResponseController(w)}
	for _, img := range imgs {
		for _, n := range img.Names {
			out.send(jsonstream.Message{Stream: "Loaded image: " + familiar(n) + "\n"})
		}
		if len(img.Names) == 0 {
			out.send(jsonstream.Message{Stream: "Loaded image ID: " + img.ID.String() + "\n"})
		}
	}
}

// pushImage is POST /images/NAME/push?tag=: tug push, reported as a
// stream of JSON messages.
func (srv *server) pushImage(w http.ResponseWriter, r *http.Request, ref string) {
	if tag := r.URL.Query().Get("tag"); tag != "" {
		ref += ":" + tag
	}
	if _, err := srv.Store.LookupImage(ref); err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	out := &messages{w: w, rc: http.NewResponseController(w)}
	out.send(jsonstream.Message{Status: "The push refers to repository [" + familiar(ref) + "]"})
	regs, err := srv.registriesFor(r)
	if err != nil {
		out.send(jsonstream.Message{Error: &jsonstream.Error{Message: err.Error()}})
		return
	}
	d, err := pull.Push(r.Context(), srv.Store, ref, "", regs, false)
	if err != nil {
		out.send(jsonstream.Message{Error: &jsonstream.Error{Message: err.Error()}})
		return
	}
	_, tag, _ := cutLast(familiar(ref), ":")
	out.send(jsonstream.Message{Status: fmt.Sprintf("%s: digest: %s", tag, d)})
}

// commitContainer is POST /commit?container=&repo=&tag=&author=&comment=.
func (srv *server) commitContainer(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	c, err := srv.Store.LookupContainer(q.Get("container"))
	if err != nil {
		writeError(w, err)
		return
	}
	opt := run.CommitOptions{Author: q.Get("author"), Message: q.Get("comment")}
	if repo := q.Get("repo"); repo != "" {
		if t := q.Get("tag"); t != "" {
			repo += ":" + t
		}
		if opt.Name, err = store.NormalizeName(repo); err != nil {
			writeError(w, badRequest(err))
			return
		}
	}
	if changes := commitChanges(q["changes"]); len(changes) > 0 {
		if opt.Change, err = build.Changes(changes); err != nil {
			writeError(w, badRequest(err))
			return
		}
	}
	img, err := run.Commit(context.WithoutCancel(r.Context()), srv.Store, c, opt)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"Id": img.ID.String()})
}

// commitChanges are a commit's Dockerfile instructions: the docker CLI
// sends one changes parameter each, docker-py one with a line each.
func commitChanges(values []string) []string {
	var out []string
	for _, v := range values {
		for line := range strings.Lines(v) {
			if line = strings.TrimSpace(line); line != "" {
				out = append(out, line)
			}
		}
	}
	return out
}

// registriesFor are the registries of a pull or push with the
// credentials its client sent in X-Registry-Auth (base64 JSON), if any:
// docker's clients keep them and send them along.
func (srv *server) registriesFor(r *http.Request) (pull.Registries, error) {
	h := r.Header.Get("X-Registry-Auth")
	if h == "" {
		return srv.Registries, nil
	}
	b, err := base64.URLEncoding.DecodeString(h)
	if err != nil {
		b, err = base64.StdEncoding.DecodeString(h)
	}
	var a registry.AuthConfig
	if err != nil || json.Unmarshal(b, &a) != nil {
		return pull.Registries{}, badRequest(errors.New("X-Registry-Auth: not base64 JSON credentials"))
	}
	if a.Username == "" || a.Password == "" {
		return srv.Registries, nil
	}
	return srv.Registries.WithAuth("", a.Username+":"+a.Password)
}
