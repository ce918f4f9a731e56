package cgroups

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Of moves: ThreadFiles lists, JoinFiles writes. The exec helper joins
// a container's cgroups from the files its parent listed: a prober, a
// probe a second, lists them once.

// ThreadFiles are the files through which a thread joins every cgroup
// that process pid is in: on v1 hierarchies the thread alone ("tasks",
// which skips the kernel's global threadgroup lock and its RCU grace
// period), on v2 the whole process ("cgroup.procs"). Each line of
// /proc/PID/cgroup is matched to the mount of its hierarchy in
// /proc/self/mountinfo.
func ThreadFiles(pid int) ([]string, error) {
	mounts, err := hierarchies()
	if err != nil {
		return nil, err
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return nil, fmt.Errorf("read cgroups of %d: %w", pid, err)
	}
	defer f.Close()
	var files []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		mount, ok := mounts[parts[1]]
		if !ok {
			continue // a hierarchy this namespace does not mount
		}
		file := "tasks"
		if parts[1] == "" {
			file = "cgroup.procs"
		}
		files = append(files, filepath.Join(mount, filepath.Clean("/"+parts[2]), file))
	}
	return files, sc.Err()
}

// JoinFiles moves the calling thread into the cgroups of files (as
// ThreadFiles lists them). The caller must be locked to its thread and
// fork from it.
func JoinFiles(files []string) error {
	for _, target := range files {
		if err := os.WriteFile(target, []byte("0"), 0); err != nil {
			return fmt.Errorf("join cgroup %s: %w", target, err)
		}
	}
	return nil
}

// hierarchies maps the controller field of /proc/PID/cgroup ("" for
// v2, "cpu,cpuacct", "name=systemd"…) to where that hierarchy is mounted.
func hierarchies() (map[string]string, error) {
	known, err := controllers()
	if err != nil {
		return nil, err
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		i := slices.Index(fields, "-")
		if i < 0 || i+3 >= len(fields) || fields[3] != "/" {
			continue
		}
		fstype, opts := fields[i+1], strings.Split(fields[i+3], ",")
		switch fstype {
		case "cgroup2":
			out[""] = fields[4]
		case "cgroup":
			var ctrls []string
			for _, o := range opts {
				if known[o] || strings.HasPrefix(o, "name=") {
					ctrls = append(ctrls, o)
				}
			}
			out[strings.Join(ctrls, ",")] = fields[4]
		}
	}
	return out, sc.Err()
}

// controllers returns the v1 controllers the kernel has (/proc/cgroups).
func controllers() (map[string]bool, error) {
	b, err := os.ReadFile("/proc/cgroups")
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 0 && !strings.HasPrefix(f[0], "#") {
			out[f[0]] = true
		}
	}
	return out, nil
}
