package run

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"tug/store"
)

// TopProcess is one process of a container, as tug top lists it.
type TopProcess struct {
	UID  string
	PID  int // as the host sees it
	PPID int
	Cmd  string
}

// Top lists the processes in a running container's pid namespace.
func Top(s *store.Store, c *store.Container) ([]TopProcess, error) {
	st, err := State(s, c)
	if err != nil {
		return nil, err
	}
	if st.Status != store.StatusRunning {
		return nil, fmt.Errorf("top %s: %w", c.Name, ErrNotRunning)
	}
	ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", st.Pid))
	if err != nil || !sameProcess(st.Pid, st.PidStart, st.BootID) {
		return nil, fmt.Errorf("top %s: %w", c.Name, ErrNotRunning)
	}
	if st.Holder != 0 { // held: its keeper is all that runs for it
		p, ok := topProcess(st.Pid)
		if !ok {
			return nil, fmt.Errorf("top %s: %w", c.Name, ErrNotRunning)
		}
		return []TopProcess{p}, nil
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var out []TopProcess
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if other, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid)); err != nil || other != ns {
			continue
		}
		if p, ok := topProcess(pid); ok {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PID < out[j].PID })
	return out, nil
}

func topProcess(pid int) (TopProcess, bool) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return TopProcess{}, false
	}
	p := TopProcess{PID: pid}
	for _, line := range strings.Split(string(status), "\n") {
		k, v, _ := strings.Cut(line, ":")
		f := strings.Fields(v)
		switch {
		case k == "Uid" && len(f) > 0:
			p.UID = f[0]
		case k == "PPid" && len(f) > 0:
			p.PPID, _ = strconv.Atoi(f[0])
		}
	}
	cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	p.Cmd = strings.TrimSpace(strings.ReplaceAll(string(cmd), "\x00", " "))
	return p, true
}
