package run

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"tug/run/cgroups"
	"tug/store"
)

// Usage is one container's resource use, as docker stats shows it.
type Usage struct {
	Container   *store.Container
	CPUPercent  float64 // of one CPU: 200 is two CPUs busy
	Memory      uint64
	MemoryLimit uint64 // the cgroup's, or the host's memory when unlimited
	NetRx       uint64
	NetTx       uint64
	BlockRead   uint64
	BlockWrite  uint64
	Pids        uint64
	at          time.Time
	cpu         uint64
}

// MemoryPercent is memory use against its limit.
func (u Usage) MemoryPercent() float64 {
	if u.MemoryLimit == 0 {
		return 0
	}
	return float64(u.Memory) * 100 / float64(u.MemoryLimit)
}

// CPUNanos is the CPU time the container has used in all, as its
// cgroup counts it.
func (u Usage) CPUNanos() uint64 { return u.cpu }

// Sample reads a container's counters now; with prev (an earlier
// sample of the same container) it also works out the CPU percentage.
func Sample(s *store.Store, c *store.Container, prev *Usage) (Usage, error) {
	u := Usage{Container: c, at: time.Now()}
	st, err := State(s, c)
	if err != nil || st.Status != store.StatusRunning {
		return u, err
	}
	cfg, err := ContainerConfig(c)
	if err != nil {
		return u, err
	}
	d, err := driverOf(s, cfg)
	if err != nil {
		return u, err
	}
	var cs cgroups.Stats
	if g := d.group(c.ID, nil); g != nil && st.Holder == 0 {
		cs = g.Stats()
	} else {
		cs = treeStats(st.Pid)
	}
	u.cpu, u.Memory, u.MemoryLimit, u.Pids = cs.CPUNanos, cs.Memory, cs.MemoryLimit, cs.Pids
	u.BlockRead, u.BlockWrite = cs.BlockRead, cs.BlockWritten
	if u.MemoryLimit == 0 {
		u.MemoryLimit = hostMemory()
	}
	u.NetRx, u.NetTx = netDev(nsPid(st))
	if prev != nil && u.at.After(prev.at) && u.cpu >= prev.cpu {
		u.CPUPercent = float64(u.cpu-prev.cpu) * 100 / float64(u.at.Sub(prev.at).Nanoseconds())
	}
	return u, nil
}

// treeStats adds up, for a rootless container (which has no cgroup of
// its own), the CPU time, resident memory and number of the processes
// of its first process's tree, read from /proc. Commands run with exec
// are not in that tree and are not counted.
func treeStats(pid int) cgroups.Stats {
	var st cgroups.Stats
	page := uint64(os.Getpagesize())
	const tick = 1e9 / 100 // USER_HZ, in ns
	for todo := []int{pid}; len(todo) > 0; {
		p := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		// the fields after the command, which is in parentheses
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(f) < 22 {
			continue
		}
		utime, _ := strconv.ParseUint(f[11], 10, 64)
		stime, _ := strconv.ParseUint(f[12], 10, 64)
		rss, _ := strconv.ParseUint(f[21], 10, 64)
		st.CPUNanos += (utime + stime) * tick
		st.Memory += rss * page
		st.Pids++
		tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", p))
		for _, t := range tasks {
			children, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", p, t.Name()))
			for _, c := range strings.Fields(string(children)) {
				if n, err := strconv.Atoi(c); err == nil {
					todo = append(todo, n)
				}
			}
		}
	}
	return st
}

// hostMemory is MemTotal in bytes.
func hostMemory() uint64 {
	b, _ := os.ReadFile("/proc/meminfo")
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// netDev sums the bytes of every interface but lo in pid's network
// namespace.
func netDev(pid int) (rx, tx uint64) {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/net/dev", pid))
	for _, line := range strings.Split(string(b), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		f := strings.Fields(rest)
		if !ok || strings.TrimSpace(name) == "lo" || len(f) < 9 {
			continue
		}
		r, _ := strconv.ParseUint(f[0], 10, 64)
		t, _ := strconv.ParseUint(f[8], 10, 64)
		rx, tx = rx+r, tx+t
	}
	return rx, tx
}
