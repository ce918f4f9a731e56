package cgroups

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Stats are a group's counters, read at one instant.
type Stats struct {
	CPUNanos     uint64 // CPU time used, all CPUs
	Memory       uint64 // in use, without inactive page cache, as docker counts
	MemoryLimit  uint64 // 0 when unlimited
	Pids         uint64
	BlockRead    uint64 // bytes
	BlockWritten uint64
}

// Stats reads the group's counters; missing files count as zero.
func (g *Group) Stats() Stats {
	var s Stats
	if dir, ok := g.dirs[""]; ok {
		s.CPUNanos = statValue(filepath.Join(dir, "cpu.stat"), "usage_usec") * 1000
		s.Memory = sub(readUint(filepath.Join(dir, "memory.current")), statValue(filepath.Join(dir, "memory.stat"), "inactive_file"))
		s.MemoryLimit = readUint(filepath.Join(dir, "memory.max"))
		s.Pids = readUint(filepath.Join(dir, "pids.current"))
		s.BlockRead, s.BlockWritten = ioStatV2(filepath.Join(dir, "io.stat"))
		return s
	}
	s.CPUNanos = readUint(filepath.Join(g.dirs["cpuacct"], "cpuacct.usage"))
	mem := g.dirs["memory"]
	s.Memory = sub(readUint(filepath.Join(mem, "memory.usage_in_bytes")), statValue(filepath.Join(mem, "memory.stat"), "total_inactive_file"))
	if limit := readUint(filepath.Join(mem, "memory.limit_in_bytes")); limit < 1<<62 {
		s.MemoryLimit = limit
	}
	s.Pids = readUint(filepath.Join(g.dirs["pids"], "pids.current"))
	s.BlockRead, s.BlockWritten = ioStatV1(filepath.Join(g.dirs["blkio"], "blkio.throttle.io_service_bytes_recursive"))
	return s
}

func sub(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}

// readUint reads a file holding one number; "max" and errors are 0.
func readUint(file string) uint64 {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return n
}

// ioStatV2 sums rbytes and wbytes over the devices of io.stat.
func ioStatV2(file string) (r, w uint64) {
	b, _ := os.ReadFile(file)
	for _, f := range strings.Fields(string(b)) {
		k, v, ok := strings.Cut(f, "=")
		n, _ := strconv.ParseUint(v, 10, 64)
		switch {
		case ok && k == "rbytes":
			r += n
		case ok && k == "wbytes":
			w += n
		}
	}
	return r, w
}

// ioStatV1 sums the Read and Write lines of blkio's service bytes.
func ioStatV1(file string) (r, w uint64) {
	b, _ := os.ReadFile(file)
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		n, _ := strconv.ParseUint(f[2], 10, 64)
		switch f[1] {
		case "Read":
			r += n
		case "Write":
			w += n
		}
	}
	return r, w
}
