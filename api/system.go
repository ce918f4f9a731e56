package api

import (
	"net/http"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/moby/moby/api/types/system"

	"tug/run"
	"tug/store"
)

// ping is /_ping, GET and HEAD: what clients call first, for the
// headers (the API version) as much as for the answer.
func (srv *server) ping(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-cache, no-store, must-revalidate")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		w.Write([]byte("OK"))
	}
}

func (srv *server) version(w http.ResponseWriter, r *http.Request) {
	host, err := run.DescribeHost()
	if err != nil {
		writeError(w, err)
		return
	}
	v := system.VersionResponse{
		Platform: system.PlatformInfo{Name: "tug"},
		Version:  srv.Version, APIVersion: Version, MinAPIVersion: MinVersion, GitCommit: srv.GitCommit,
		Os: "linux", Arch: runtime.GOARCH, KernelVersion: host.Kernel, GoVersion: runtime.Version(),
		Components: []system.ComponentVersion{{Name: "Engine", Version: srv.Version, Details: map[string]string{
			"ApiVersion": Version, "MinAPIVersion": MinVersion, "Os": "linux", "Arch": runtime.GOARCH, "KernelVersion": host.Kernel,
			"GitCommit": srv.GitCommit, "GoVersion": runtime.Version(), "BuildTime": srv.BuildTime, "Experimental": "false",
		}}},
	}
	writeJSON(w, http.StatusOK, v)
}

func (srv *server) info(w http.ResponseWriter, r *http.Request) {
	s := srv.Store
	host, err := run.DescribeHost()
	if err != nil {
		writeError(w, err)
		return
	}
	imgs, err := s.Images()
	if err != nil {
		writeError(w, err)
		return
	}
	name, _ := os.Hostname()
	manager, _ := run.CgroupManager(s, srv.Defaults.CgroupManager)
	v := system.Info{
		ID: name, Images: len(imgs), Driver: "overlay", LoggingDriver: "k8s-file", CgroupDriver: manager,
		CgroupVersion: strings.TrimPrefix(host.Cgroups.Version, "v"), KernelVersion: host.Kernel,
		OperatingSystem: host.Distribution.Distribution, OSVersion: host.Distribution.Version, OSType: "linux",
		Architecture: runtime.GOARCH, NCPU: runtime.NumCPU(), DockerRootDir: s.Root(), Name: name,
		ServerVersion: srv.Version, SystemTime: time.Now().Format(time.RFC3339Nano), NGoroutines: runtime.NumGoroutine(),
		MemoryLimit: true, CPUShares: true, CPUSet: true, PidsLimit: true, CPUCfsQuota: true, CPUCfsPeriod: true,
		SecurityOptions: []string{"name=seccomp,profile=builtin"},
	}
	if host.Rootless {
		v.SecurityOptions = append(v.SecurityOptions, "name=rootless")
	}
	if rows, _, err := run.Ps(s, run.PsOptions{All: true, Last: -1, Filters: run.Filters{}}); err == nil {
		v.Containers = len(rows)
		for _, r := range rows {
			switch r.State {
			case store.StatusRunning:
				v.ContainersRunning++
			case run.StatusPaused:
				v.ContainersPaused++
			default:
				v.ContainersStopped++
			}
		}
	}
	writeJSON(w, http.StatusOK, v)
}
