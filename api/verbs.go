package api

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"

	"tug/run"
	"tug/store"
)

// The container verbs that are one library call each.

func (srv *server) topContainer(w http.ResponseWriter, r *http.Request) {
	srv.withContainer(func(w http.ResponseWriter, r *http.Request, c *store.Container) error {
		procs, err := run.Top(srv.Store, c)
		if err != nil {
			return err
		}
		out := container.TopResponse{Titles: []string{"UID", "PID", "PPID", "CMD"}, Processes: [][]string{}}
		for _, p := range procs {
			out.Processes = append(out.Processes, []string{p.UID, strconv.Itoa(p.PID), strconv.Itoa(p.PPID), p.Cmd})
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	})(w, r)
}

// noContent runs a verb on the path's container and answers 204.
func (srv *server) noContent(verb func(*http.Request, *store.Container) error) http.HandlerFunc {
	return srv.withContainer(func(w http.ResponseWriter, r *http.Request, c *store.Container) error {
		if err := verb(r, c); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

// pauseContainer, unpauseContainer and renameContainer are their
// verbs.
func (srv *server) pauseContainer(r *http.Request, c *store.Container) error {
	return run.Pause(srv.Store, c)
}

func (srv *server) unpauseContainer(r *http.Request, c *store.Container) error {
	return run.Unpause(srv.Store, c)
}

func (srv *server) renameContainer(r *http.Request, c *store.Container) error {
	return srv.Store.RenameContainer(c.ID, r.URL.Query().Get("name"))
}

// updateContainer is POST /containers/ID/update: new limits, as tug
// update sets them; a restart policy is not changed by it.
func (srv *server) updateContainer(w http.ResponseWriter, r *http.Request) {
	srv.withContainer(func(w http.ResponseWriter, r *http.Request, c *store.Container) error {
		var req container.UpdateConfig
		if err := decodeBody(r, &req); err != nil {
			return err
		}
		warnings := []string{}
		if req.RestartPolicy.Name != "" {
			warnings = append(warnings, "tug ignores RestartPolicy in an update")
		}
		if err := run.Update(srv.Store, c, limits(req.Resources)); err != nil {
			return badRequest(err)
		}
		writeJSON(w, http.StatusOK, container.UpdateResponse{Warnings: warnings})
		return nil
	})(w, r)
}

func (srv *server) exportContainer(w http.ResponseWriter, r *http.Request) {
	srv.withContainer(func(w http.ResponseWriter, r *http.Request, c *store.Container) error {
		w.Header().Set("Content-Type", "application/x-tar")
		w.WriteHeader(http.StatusOK)
		run.Export(srv.Store, c, w) // an error cuts the tar short
		return nil
	})(w, r)
}

func (srv *server) containerChanges(w http.ResponseWriter, r *http.Request) {
	srv.withContainer(func(w http.ResponseWriter, r *http.Request, c *store.Container) error {
		changes, err := run.Diff(srv.Store, c)
		if err != nil {
			return err
		}
		kinds := map[string]container.ChangeType{"C": container.ChangeModify, "A": container.ChangeAdd, "D": container.ChangeDelete}
		out := []container.FilesystemChange{}
		for _, ch := range changes {
			out = append(out, container.FilesystemChange{Kind: kinds[ch.Kind], Path: ch.Path})
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	})(w, r)
}

func (srv *server) pruneContainers(w http.ResponseWriter, r *http.Request) {
	gone, _, err := run.Prune(srv.Store)
	if err != nil {
		writeError(w, err)
		return
	}
	if gone == nil {
		gone = []string{}
	}
	writeJSON(w, http.StatusOK, container.PruneReport{ContainersDeleted: gone})
}

// containerStats is GET /containers/ID/stats?stream=&one-shot=: docker's
// stats JSON, each second while streaming (the default), with the last
// sample's CPU figures as precpu, from which clients work out the CPU
// percentage.
func (srv *server) containerStats(w http.ResponseWriter, r *http.Request) {
	srv.withContainer(func(w http.ResponseWriter, r *http.Request, c *store.Container) error {
		q := r.URL.Query()
		stream := q.Get("stream") == "" || boolParam(q.Get("stream"))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		enc := json.NewEncoder(w)
		var prev *container.StatsResponse
		for {
			cur, err := srv.sample(c, prev)
			if err != nil || enc.Encode(cur) != nil || rc.Flush() != nil || !stream {
				return nil
			}
			if up, err := srv.running(c); err != nil || !up {
				return nil
			}
			prev = &cur
			select {
			case <-r.Context().Done():
				return nil
			case <-time.After(time.Second):
			}
		}
	})(w, r)
}

// sample is one stats answer; prev is the one before, or nil.
func (srv *server) sample(c *store.Container, prev *container.StatsResponse) (container.StatsResponse, error) {
	u, err := run.Sample(srv.Store, c, nil)
	if err != nil {
		return container.StatsResponse{}, err
	}
	out := container.StatsResponse{
		ID: c.ID, Name: "/" + c.Name, OSType: "linux", Read: time.Now(),
		CPUStats: container.CPUStats{
			CPUUsage:    container.CPUUsage{TotalUsage: u.CPUNanos()},
			SystemUsage: systemCPU(), OnlineCPUs: uint32(runtime.NumCPU()),
		},
		MemoryStats: container.MemoryStats{Usage: u.Memory, Limit: u.MemoryLimit},
		PidsStats:   container.PidsStats{Current: u.Pids},
		Networks:    map[string]container.NetworkStats{"eth0": {RxBytes: u.NetRx, TxBytes: u.NetTx}},
		BlkioStats: container.BlkioStats{IoServiceBytesRecursive: []container.BlkioStatEntry{
			{Op: "read", Value: u.BlockRead}, {Op: "write", Value: u.BlockWrite},
		}},
	}
	if prev != nil {
		out.PreRead, out.PreCPUStats = prev.Read, prev.CPUStats
	}
	return out, nil
}

// systemCPU is the host's CPU time in all, in nanoseconds, from the
// cpu line of /proc/stat, as docker's system_cpu_usage is.
func systemCPU() uint64 {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return 0
	}
	fields := strings.Fields(sc.Text())
	if len(fields) < 2 || fields[0] != "cpu" {
		return 0
	}
	var ticks uint64
	for _, v := range fields[1:min(len(fields), 8)] { // user … softirq, as docker sums them
		n, _ := strconv.ParseUint(v, 10, 64)
		ticks += n
	}
	return ticks * uint64(time.Second) / 100 // USER_HZ
}
