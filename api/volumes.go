package api

import (
	"errors"
	"net/http"
	"slices"

	"github.com/moby/moby/api/types/volume"

	"tug/store"
)

// volumeOf is a volume in the API's type.
func (srv *server) volumeOf(v *store.Volume) volume.Volume {
	view := srv.Store.View(v)
	out := volume.Volume{Name: view.Name, Driver: view.Driver, Mountpoint: view.Mountpoint, CreatedAt: view.CreatedAt,
		Labels: view.Labels, Options: view.Options, Scope: view.Scope}
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	if out.Options == nil {
		out.Options = map[string]string{}
	}
	return out
}

func (srv *server) listVolumes(w http.ResponseWriter, r *http.Request) {
	filters, err := flatFilters(r.URL.Query().Get("filters"))
	if err != nil {
		writeError(w, err)
		return
	}
	vols, err := srv.Store.Volumes()
	if err == nil {
		vols, err = srv.Store.SelectVolumes(vols, filters)
	}
	if err != nil {
		writeError(w, badRequest(err))
		return
	}
	out := volume.ListResponse{Volumes: []volume.Volume{}, Warnings: []string{}}
	for _, v := range vols {
		out.Volumes = append(out.Volumes, srv.volumeOf(v))
	}
	writeJSON(w, http.StatusOK, out)
}

func (srv *server) createVolume(w http.ResponseWriter, r *http.Request) {
	var req volume.CreateRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if req.Driver != "" && req.Driver != "local" {
		writeError(w, badRequest(errors.New("volume driver "+req.Driver+": tug has the local driver only")))
		return
	}
	v := &store.Volume{Name: req.Name, Driver: "local", Labels: req.Labels, Options: req.DriverOpts}
	if v.Name == "" {
		var err error
		if v.Name, err = store.NewContainerID(); err != nil {
			writeError(w, err)
			return
		}
	}
	// docker answers a create of a volume that exists with that volume
	v, err := srv.Store.CreateVolume(v)
	if err != nil {
		writeError(w, badRequest(err))
		return
	}
	writeJSON(w, http.StatusCreated, srv.volumeOf(v))
}

func (srv *server) inspectVolume(w http.ResponseWriter, r *http.Request) {
	v, err := srv.Store.LookupVolume(r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, srv.volumeOf(v))
}

func (srv *server) removeVolume(w http.ResponseWriter, r *http.Request) {
	err := srv.Store.RemoveVolume(r.PathValue("name"))
	if errors.Is(err, store.ErrNotFound) && boolParam(r.URL.Query().Get("force")) {
		err = nil
	}
	if err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// pruneVolumes removes the unused anonymous volumes, and with the
// filter all=true the named ones too, as docker's API does since 1.42.
func (srv *server) pruneVolumes(w http.ResponseWriter, r *http.Request) {
	filters, err := flatFilters(r.URL.Query().Get("filters"))
	if err != nil {
		writeError(w, err)
		return
	}
	all := slices.Contains(filters, "all=true") || slices.Contains(filters, "all=1")
	filters = slices.DeleteFunc(filters, func(f string) bool { return f == "all=true" || f == "all=1" || f == "all=false" || f == "all=0" })
	gone, err := srv.Store.PruneVolumes(all, filters)
	if err != nil {
		writeError(w, badRequest(err))
		return
	}
	if gone == nil {
		gone = []string{}
	}
	writeJSON(w, http.StatusOK, volume.PruneReport{VolumesDeleted: gone})
}
