package run

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"tug/internal/human"
	"tug/run/childspec"
	"tug/store"
)

// PsRow is one container as ps lists it, in docker's template names
// ({{.ID}}, {{.Status}}, …).
type PsRow struct {
	ID          string
	Image       string
	Command     string
	CreatedAt   string
	RunningFor  string
	Status      string
	State       string
	Ports       string
	Names       string
	Labels      string
	Size        string // with --size: "2B (virtual 1.98MB)", docker's
	Pod         string // podman's: its pod's ID, or ""
	PodName     string // its pod's name, or ""
	labels      map[string]string
	health      string // starting, healthy, unhealthy; "none" without a healthcheck
	exitCode    string // an exited container's, else ""
	restart     string // its restart policy: no, on-failure, always, unless-stopped
	userStopped bool   // a stop (tug stop, kill) ended its last run
	networks    []string
	volumes     []string // names, and the destinations of all its mounts
	created     time.Time
	imageID     string
	fullID      string
	podID       string // Pod's, whole
}

// Label is the value of one label, docker's {{.Label "NAME"}}.
func (r PsRow) Label(name string) string { return r.labels[name] }

// Networks are the networks it is on, comma-separated: docker's
// {{.Networks}}.
func (r PsRow) Networks() string { return strings.Join(r.networks, ",") }

// Mounts are its volumes' names and its mounts' destinations,
// comma-separated: docker's {{.Mounts}}.
func (r PsRow) Mounts() string { return strings.Join(r.volumes, ",") }

// PsOptions select ps's rows.
type PsOptions struct {
	All     bool    // not only running (and paused) ones
	Last    int     // only the N newest; -1 for all
	Filters Filters // --filter
	NoTrunc bool
	Size    bool // measure each container's files (--size)
}

// Listed is one container as a listing reads it: its ps row, and what
// the API's list (docker's /containers/json) shows beside it.
type Listed struct {
	PsRow
	Container       *store.Container
	ContainerState  *store.ContainerState
	Args            []string
	NetworkMode     string
	NetworkSettings InspectNetSettng // its ports and networks, as inspect shows them
	MountPoints     []InspectMount
	SizeRw          int64 // with PsOptions.Size
	SizeRootFs      int64
}

// Ps lists containers, newest first, and the records it could not read.
func Ps(s *store.Store, opt PsOptions) ([]PsRow, []*store.BadRecord, error) {
	all, bad, err := List(s, opt)
	rows := make([]PsRow, len(all))
	for i, l := range all {
		rows[i] = l.PsRow
	}
	return rows, bad, err
}

// List is Ps with what the API lists beside each row. It reads a few
// containers at once (Store.Each): each is a few small files, and a
// listing of many would otherwise wait on them in turn.
func List(s *store.Store, opt PsOptions) ([]Listed, []*store.BadRecord, error) {
	all, bad, err := s.ScanContainers()
	if err != nil {
		return nil, nil, err
	}
	showAll := opt.All || opt.Last > 0 || opt.Filters["status"] != nil || opt.Filters["exited"] != nil
	pods := podsByID(s)
	read := make([]*Listed, len(all))
	s.Each(len(all), func(i int) {
		if l, err := listedOf(s, all[i], pods, opt.NoTrunc); err == nil { // else removed meanwhile
			read[i] = l
		}
	})
	var rows []Listed
	for _, l := range read {
		if opt.Last >= 0 && len(rows) >= opt.Last {
			break
		}
		if l == nil || (!showAll && l.PsRow.State != store.StatusRunning && l.PsRow.State != StatusPaused) || !opt.Filters.match(s, l.PsRow) {
			continue
		}
		if opt.Size {
			l.SizeRw, l.SizeRootFs = Size(s, l.Container)
			l.Size = fmt.Sprintf("%s (virtual %s)", human.Size(l.SizeRw), human.Size(l.SizeRootFs))
		}
		rows = append(rows, *l)
	}
	return rows, bad, nil
}

// Select names the containers that a verb's --all or --filter picks: for
// stop and kill the running ones, for start the others, for pause the
// running ones not paused, for unpause the paused ones, else all.
func Select(s *store.Store, verb string, filters Filters) ([]string, error) {
	return pickRows(s, func(r PsRow) bool { return filters.match(s, r) && selects(verb, r.State) })
}

// BootTargets are the containers that a restart policy brings back when
// the host boots, as docker's daemon does when it starts: always, and
// unless-stopped where no one stopped it (tug start --at-boot, which the
// boot unit runs).
func BootTargets(s *store.Store) ([]string, error) {
	return pickRows(s, func(r PsRow) bool {
		return selects("start", r.State) && (r.restart == "always" || r.restart == "unless-stopped" && !r.userStopped)
	})
}

// pickRows names the containers whose ps rows keep takes.
func pickRows(s *store.Store, keep func(PsRow) bool) ([]string, error) {
	ctrs, err := s.Containers()
	if err != nil {
		return nil, err
	}
	pods := podsByID(s)
	var names []string
	for _, ctr := range ctrs {
		if l, err := listedOf(s, ctr, pods, true); err == nil && keep(l.PsRow) {
			names = append(names, ctr.Name)
		}
	}
	return names, nil
}

// selects tells whether --all of verb takes a container in state.
func selects(verb, state string) bool {
	running := state == store.StatusRunning || state == store.StatusRestarting || state == StatusPaused
	switch verb {
	case "stop", "kill":
		return running
	case "start":
		return !running
	case "pause":
		return state == store.StatusRunning
	case "unpause":
		return state == StatusPaused
	}
	return true
}

// podsByID are the store's pods, read once for all of a listing's rows
// (none if they cannot be read: the rows show no pod then).
func podsByID(s *store.Store) map[string]*store.Pod {
	all, _ := s.Pods()
	pods := make(map[string]*store.Pod, len(all))
	for _, p := range all {
		pods[p.ID] = p
	}
	return pods
}

// psConfig is what a listing needs of a container's config: decoding
// only that skips the compiled seccomp filter and the rest of the spec,
// which made most of a listing's time.
type psConfig struct {
	Spec struct {
		Args   []string          `json:"args"`
		Mounts []childspec.Mount `json:"mounts"`
	} `json:"spec"`
	netConfig
	Restart RestartPolicy `json:"restart"`
}

func listedOf(s *store.Store, ctr *store.Container, pods map[string]*store.Pod, noTrunc bool) (*Listed, error) {
	st, err := State(s, ctr)
	if err != nil {
		return nil, err
	}
	cfg, err := store.DecodeSpec[psConfig](ctr)
	if err != nil {
		return nil, err
	}
	l := &Listed{
		Container: ctr, ContainerState: st, Args: cfg.Spec.Args, NetworkMode: cfg.Network, MountPoints: inspectMounts(cfg.Spec.Mounts),
		NetworkSettings: networkSettings(s, ctr.ID, st.Status == store.StatusRunning, cfg.netConfig),
	}
	r := PsRow{
		ID: ctr.ID, Image: ctr.ImageName, Names: ctr.Name, State: StatusWord(st),
		CreatedAt: ctr.Created.Local().Format("2006-01-02 15:04:05 -0700 MST"), RunningFor: human.Ago(ctr.Created),
		Status: StatusText(st, time.Now()), labels: ctr.Labels, imageID: ctr.Image.Hex, fullID: ctr.ID, health: "none",
		Command: fmt.Sprintf("%q", strings.Join(cfg.Spec.Args, " ")), Ports: portsText(l.NetworkSettings.Ports),
	}
	if st.Health != nil && st.Status == store.StatusRunning {
		r.health = st.Health.Status
	}
	r.restart, r.userStopped = cfg.Restart.Name, st.StopRequested
	if r.restart == "" {
		r.restart = "no"
	}
	if st.Status == store.StatusExited {
		r.exitCode = strconv.Itoa(st.ExitCode)
	}
	r.created, r.networks = ctr.Created, append([]string{cfg.Network}, cfg.Connected...)
	r.volumes = append([]string{}, ctr.Volumes...)
	for _, m := range cfg.Spec.Mounts {
		r.volumes = append(r.volumes, m.Destination)
	}
	if p := pods[ctr.Pod]; p != nil {
		r.Pod, r.PodName, r.podID = p.ID, p.Name, p.ID
	}
	var labels []string
	for k, v := range ctr.Labels {
		labels = append(labels, k+"="+v)
	}
	r.Labels = strings.Join(labels, ",")
	if !noTrunc {
		r.ID = r.ID[:12]
		if r.Pod != "" {
			r.Pod = r.Pod[:12]
		}
		if len(r.Command) > 22 {
			r.Command = r.Command[:20] + "…\""
		}
	}
	l.PsRow = r
	return l, nil
}

// portsText is ps's PORTS of inspect's ports, as docker writes them:
// "0.0.0.0:8080->80/tcp, 127.0.0.1:5353->53/udp".
func portsText(ports map[string][]string) string {
	var out []string
	for p, binds := range ports {
		for _, b := range binds {
			out = append(out, b+"->"+p)
		}
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}

// StatusText is ps's STATUS: "Up 5 minutes (Paused)", "Exited (0) 2
// hours ago", as docker writes it.
func StatusText(st *store.ContainerState, now time.Time) string {
	switch st.Status {
	case store.StatusRunning:
		up := "Up " + strings.TrimSuffix(human.AgoFrom(st.StartedAt, now), " ago")
		switch {
		case st.Paused:
			up += " (Paused)"
		case st.Health != nil && st.Health.Status == store.HealthStarting:
			up += " (health: starting)"
		case st.Health != nil:
			up += " (" + st.Health.Status + ")"
		}
		return up
	case store.StatusExited:
		return fmt.Sprintf("Exited (%d) %s", st.ExitCode, human.AgoFrom(st.FinishedAt, now))
	case store.StatusRestarting:
		return fmt.Sprintf("Restarting (%d) %s", st.ExitCode, human.AgoFrom(st.FinishedAt, now))
	}
	return "Created"
}

// Filters are ps's --filter key=value pairs; values of one key are ORed,
// keys ANDed.
type Filters map[string][]string

// ParseFilters reads --filter status=|name=|id=|ancestor=|label=K[=V]|
// health=|exited=|network=|volume=|before=|since=|pod=.
func ParseFilters(fs []string) (Filters, error) {
	out := Filters{}
	for _, f := range fs {
		k, v, ok := strings.Cut(f, "=")
		switch k {
		case "status", "name", "id", "ancestor", "label", "network", "volume", "before", "since", "pod":
		case "restart-policy":
			ok = ok && slices.Contains([]string{"no", "on-failure", "always", "unless-stopped"}, v)
		case "exited":
			_, err := strconv.Atoi(v)
			ok = ok && err == nil
		case "health":
			ok = ok && slices.Contains([]string{"starting", "healthy", "unhealthy", "none"}, v)
		default:
			ok = false
		}
		if !ok {
			return nil, fmt.Errorf("--filter %q: want status=, name=, id=, ancestor=, label=, network=, volume=, before=, since=, pod=, exited=CODE, health=starting|healthy|unhealthy|none or restart-policy=no|on-failure|always|unless-stopped", f)
		}
		out[k] = append(out[k], v)
	}
	return out, nil
}

func (f Filters) match(s *store.Store, r PsRow) bool {
	anyOf := func(key string, ok func(v string) bool) bool {
		vs := f[key]
		if len(vs) == 0 {
			return true
		}
		for _, v := range vs {
			if ok(v) {
				return true
			}
		}
		return false
	}
	return anyOf("status", func(v string) bool { return v == r.State }) &&
		anyOf("restart-policy", func(v string) bool { return v == r.restart }) &&
		anyOf("health", func(v string) bool { return v == r.health }) &&
		anyOf("exited", func(v string) bool { return v == r.exitCode }) &&
		anyOf("network", func(v string) bool { return slices.Contains(r.networks, v) }) &&
		anyOf("volume", func(v string) bool { return slices.Contains(r.volumes, v) }) &&
		anyOf("before", func(v string) bool {
			other, err := s.LookupContainer(v)
			return err == nil && r.created.Before(other.Created)
		}) &&
		anyOf("since", func(v string) bool {
			other, err := s.LookupContainer(v)
			return err == nil && r.created.After(other.Created)
		}) &&
		anyOf("name", func(v string) bool { return strings.Contains(r.Names, v) }) &&
		anyOf("pod", func(v string) bool { return r.PodName != "" && (v == r.PodName || strings.HasPrefix(r.podID, v)) }) &&
		anyOf("id", func(v string) bool { return strings.HasPrefix(r.fullID, v) }) &&
		anyOf("ancestor", func(v string) bool {
			img, err := s.LookupImage(v)
			return err == nil && img.ID.Hex == r.imageID
		}) &&
		// labels are all to match, as docker's label filters are
		!slices.ContainsFunc(f["label"], func(v string) bool {
			k, want, hasValue := strings.Cut(v, "=")
			got, ok := r.labels[k]
			return !ok || hasValue && got != want
		})
}
