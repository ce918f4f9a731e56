package api

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path"

	"github.com/moby/moby/api/types/container"

	"tug/run"
	"tug/store"
)

// statHeader carries a path's stat on the archive endpoints.
const statHeader = "X-Docker-Container-Path-Stat"

// pathStat is the stat of ?path= in the container, resolved inside it
// as tug cp resolves it, set on the answer's header; a path that is
// not there is docker's 404.
func (srv *server) pathStat(w http.ResponseWriter, r *http.Request, c *store.Container) (string, error) {
	p := r.URL.Query().Get("path")
	if p == "" {
		return "", badRequest(errors.New("path: no path given"))
	}
	info, err := run.Stat(srv.Store, c, p)
	if err != nil {
		return "", badRequest(err)
	}
	if !info.Exists {
		return "", &store.NoSuch{Kind: "file or directory", Name: fmt.Sprintf("%s:%s", c.Name, p)}
	}
	st := container.PathStat{Name: path.Base(path.Clean("/" + p)), Size: info.Size, Mode: info.Mode, Mtime: info.ModTime}
	b, err := json.Marshal(st)
	if err != nil {
		return "", err
	}
	w.Header().Set(statHeader, base64.StdEncoding.EncodeToString(b))
	return p, nil
}

// statArchive is HEAD /containers/ID/archive?path=: the stat alone.
func (srv *server) statArchive(w http.ResponseWriter, r *http.Request) {
	srv.withContainer(func(w http.ResponseWriter, r *http.Request, c *store.Container) error {
		if _, err := srv.pathStat(w, r, c); err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	})(w, r)
}

// getArchive is GET /containers/ID/archive?path=: the tree at path as
// a tar, its top entry named after path's last element, as tug cp
// writes it.
func (srv *server) getArchive(w http.ResponseWriter, r *http.Request) {
	srv.withContainer(func(w http.ResponseWriter, r *http.Request, c *store.Container) error {
		p, err := srv.pathStat(w, r, c)
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", "application/x-tar")
		w.WriteHeader(http.StatusOK)
		// the status is out: an error now cuts the tar short, which
		// the client sees as a broken archive
		run.CopyOut(srv.Store, c, p, path.Base(path.Clean("/"+p)), w)
		return nil
	})(w, r)
}

// putArchive is PUT /containers/ID/archive?path=DIR: the request's tar
// unpacked into DIR, which must be a directory there, each entry kept
// inside the container as tug cp keeps it.
func (srv *server) putArchive(w http.ResponseWriter, r *http.Request) {
	srv.withContainer(func(w http.ResponseWriter, r *http.Request, c *store.Container) error {
		p := r.URL.Query().Get("path")
		info, err := run.Stat(srv.Store, c, p)
		switch {
		case err != nil:
			return badRequest(err)
		case !info.Exists:
			return &store.NoSuch{Kind: "directory", Name: fmt.Sprintf("%s:%s", c.Name, p)}
		case !info.IsDir:
			return badRequest(fmt.Errorf("%s:%s is not a directory", c.Name, p))
		}
		if err := run.CopyIn(srv.Store, c, p, r.Body); err != nil {
			return badRequest(err)
		}
		w.WriteHeader(http.StatusOK)
		return nil
	})(w, r)
}
