package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Resources are a container's limits; zero values are unset.
type Resources struct {
	Memory            int64  `json:"memory,omitempty"`             // bytes
	MemoryReservation int64  `json:"memory_reservation,omitempty"` // bytes, a soft limit
	MemorySwap        int64  `json:"memory_swap,omitempty"`        // memory+swap bytes; -1 unlimited
	CPUQuota          int64  `json:"cpu_quota,omitempty"`          // µs per period
	CPUPeriod         int64  `json:"cpu_period,omitempty"`         // µs
	CPUShares         uint64 `json:"cpu_shares,omitempty"`
	CpusetCpus        string `json:"cpuset_cpus,omitempty"`
	CpusetMems        string `json:"cpuset_mems,omitempty"`
	PidsLimit         int64  `json:"pids_limit,omitempty"` // -1 unlimited
	BlkioWeight       uint16 `json:"blkio_weight,omitempty"`
	DeviceReadBps     []Rate `json:"device_read_bps,omitempty"`
	DeviceWriteBps    []Rate `json:"device_write_bps,omitempty"`
	// Devices is the allow list of the devices controller (v1); nil
	// leaves the controller alone.
	Devices []DeviceRule `json:"devices,omitempty"`
}

// DeviceRule allows access to devices: Type 'c', 'b' or 'a' (all),
// Major and Minor -1 for any, Access a subset of "rwm".
type DeviceRule struct {
	Type   byte   `json:"type"`
	Major  int64  `json:"major"`
	Minor  int64  `json:"minor"`
	Access string `json:"access"`
}

func (d DeviceRule) String() string {
	num := func(n int64) string {
		if n < 0 {
			return "*"
		}
		return strconv.FormatInt(n, 10)
	}
	if d.Type == 'a' {
		return "a"
	}
	return fmt.Sprintf("%c %s:%s %s", d.Type, num(d.Major), num(d.Minor), d.Access)
}

// Empty tells whether no limit is set; device rules are policy, not
// limits, and do not count.
func (r Resources) Empty() bool {
	return r.Memory == 0 && r.MemoryReservation == 0 && r.MemorySwap == 0 && r.CPUQuota == 0 && r.CPUShares == 0 &&
		r.CpusetCpus == "" && r.CpusetMems == "" && r.PidsLimit == 0 && r.BlkioWeight == 0 &&
		len(r.DeviceReadBps) == 0 && len(r.DeviceWriteBps) == 0
}

// Merge returns r with the limits set in n put over it.
func (r Resources) Merge(n Resources) Resources {
	if n.Memory != 0 {
		r.Memory = n.Memory
	}
	if n.MemoryReservation != 0 {
		r.MemoryReservation = n.MemoryReservation
	}
	if n.MemorySwap != 0 {
		r.MemorySwap = n.MemorySwap
	}
	if n.CPUQuota != 0 {
		r.CPUQuota, r.CPUPeriod = n.CPUQuota, n.CPUPeriod
	}
	if n.CPUShares != 0 {
		r.CPUShares = n.CPUShares
	}
	if n.CpusetCpus != "" {
		r.CpusetCpus = n.CpusetCpus
	}
	if n.CpusetMems != "" {
		r.CpusetMems = n.CpusetMems
	}
	if n.PidsLimit != 0 {
		r.PidsLimit = n.PidsLimit
	}
	if n.BlkioWeight != 0 {
		r.BlkioWeight = n.BlkioWeight
	}
	if len(n.DeviceReadBps) > 0 {
		r.DeviceReadBps = n.DeviceReadBps
	}
	if len(n.DeviceWriteBps) > 0 {
		r.DeviceWriteBps = n.DeviceWriteBps
	}
	return r
}

// Rate is a per-device I/O limit.
type Rate struct {
	Major, Minor uint32
	Bytes        uint64
}

// parent is the cgroup all of tug's containers live under.
const parent = "tug"

// Group is one container's cgroup: a dir in the v2 tree, or one per v1
// controller hierarchy.
type Group struct {
	Layout Layout
	Name   string            // the container ID
	dirs   map[string]string // v1 controller → dir; "" → the v2 dir
}

// v1Controllers are the hierarchies a container gets a dir in on v1:
// always those that police and account for it, the others only when a
// limit needs them (each dir costs a mkdir, writes and an rmdir per start).
func v1Controllers(r Resources) []string {
	ctrls := []string{"memory", "pids", "cpu", "cpuacct", "devices", "freezer"}
	if r.CpusetCpus != "" || r.CpusetMems != "" {
		ctrls = append(ctrls, "cpuset")
	}
	if r.BlkioWeight != 0 || len(r.DeviceReadBps) > 0 || len(r.DeviceWriteBps) > 0 {
		ctrls = append(ctrls, "blkio")
	}
	return ctrls
}

// allV1Controllers are every hierarchy tug may use, for cleanup.
func allV1Controllers() []string {
	return []string{"memory", "pids", "cpu", "cpuacct", "devices", "freezer", "cpuset", "blkio"}
}

// Open names a container's group for r's limits (nil for cleanup: every
// hierarchy); it touches nothing.
func Open(l Layout, name string, r *Resources) *Group {
	g := &Group{Layout: l, Name: name, dirs: map[string]string{}}
	if l.Version == "v2" {
		g.dirs[""] = filepath.Join(l.Unified, parent, name)
		return g
	}
	ctrls := allV1Controllers()
	if r != nil {
		ctrls = v1Controllers(*r)
	}
	for _, c := range ctrls {
		g.dirs[c] = filepath.Join(l.Mount, c, parent, name)
	}
	return g
}

// Create makes the group's dirs (and tug's parent, with the controllers
// enabled on v2) and applies r.
func (g *Group) Create(r Resources) error {
	if g.Layout.Version == "v2" {
		if err := enableV2(g.Layout.Unified); err != nil {
			return err
		}
	}
	for ctrl, dir := range g.dirs {
		if _, err := os.Stat(filepath.Dir(filepath.Dir(dir))); err != nil {
			delete(g.dirs, ctrl) // this host does not mount that hierarchy
			continue
		}
		if ctrl == "cpuset" {
			if err := prepareCpuset(filepath.Dir(dir)); err != nil {
				return err
			}
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create cgroup %s: %w", dir, err)
		}
		if ctrl == "cpuset" {
			if err := inheritCpuset(dir); err != nil {
				return err
			}
		}
	}
	if err := g.AttachDevices(r.Devices); err != nil {
		return err
	}
	return g.Set(r)
}

// OpenDir names the v2 group whose dir is dir (a systemd scope's
// cgroup, which systemd makes and removes); it touches nothing.
func OpenDir(l Layout, name, dir string) *Group {
	return &Group{Layout: l, Name: name, dirs: map[string]string{"": dir}}
}

// AttachDevices puts the device policy of rules (nil: none) on the v2
// dir as a BPF program; v1's devices controller takes them in Set.
func (g *Group) AttachDevices(rules []DeviceRule) error {
	dir, ok := g.dirs[""]
	if !ok || rules == nil {
		return nil
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open cgroup %s: %w", dir, err)
	}
	defer unix.Close(fd)
	return attachDevices(fd, rules)
}

// enableV2 creates tug's parent and delegates the controllers to it and
// to its children.
func enableV2(root string) error {
	want := "+cpu +cpuset +io +memory +pids"
	if err := writeControllers(filepath.Join(root, "cgroup.subtree_control"), want); err != nil {
		return err
	}
	dir := filepath.Join(root, parent)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create cgroup %s: %w", dir, err)
	}
	return writeControllers(filepath.Join(dir, "cgroup.subtree_control"), want)
}

// writeControllers enables what the kernel offers of want, one by one.
func writeControllers(file, want string) error {
	avail, err := os.ReadFile(filepath.Join(filepath.Dir(file), "cgroup.controllers"))
	if err != nil {
		return fmt.Errorf("read controllers: %w", err)
	}
	have := strings.Fields(string(avail))
	for _, c := range strings.Fields(want) {
		if slices.Contains(have, c[1:]) {
			os.WriteFile(file, []byte(c), 0o644) // a busy parent may refuse; limits then say so
		}
	}
	return nil
}

// prepareCpuset gives tug's v1 cpuset parent the root's cpus and mems:
// a v1 cpuset with none cannot take tasks.
func prepareCpuset(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return inheritCpuset(dir)
}

func inheritCpuset(dir string) error {
	for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
		cur, _ := os.ReadFile(filepath.Join(dir, f))
		if strings.TrimSpace(string(cur)) != "" {
			continue
		}
		up, err := os.ReadFile(filepath.Join(filepath.Dir(dir), f))
		if err != nil {
			return fmt.Errorf("cpuset: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), up, 0o644); err != nil {
			return fmt.Errorf("cpuset %s: %w", f, err)
		}
	}
	return nil
}

// ErrUnsupported marks a limit the host cannot enforce.
var ErrUnsupported = errors.New("not supported by this host")

// Set writes the limits of r that are set.
func (g *Group) Set(r Resources) error {
	for _, w := range g.writes(r) {
		dir, ok := g.dirs[w.ctrl]
		if !ok {
			return fmt.Errorf("%s: the %s controller is %w", w.what, ctrlName(w.ctrl), ErrUnsupported)
		}
		if err := os.WriteFile(filepath.Join(dir, w.file), []byte(w.value), 0o644); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("%s: %s is %w", w.what, w.file, ErrUnsupported)
			}
			return fmt.Errorf("%s: write %s: %w", w.what, w.file, err)
		}
	}
	return nil
}

func ctrlName(c string) string {
	if c == "" {
		return "v2"
	}
	return c
}

// write is one value to write for a limit.
type write struct {
	what, ctrl, file, value string
}

// writes maps r onto the files of this layout.
func (g *Group) writes(r Resources) []write {
	v2 := g.Layout.Version == "v2"
	var out []write
	add := func(what, ctrl1, file1, file2, value string) {
		if v2 {
			out = append(out, write{what, "", file2, value})
		} else {
			out = append(out, write{what, ctrl1, file1, value})
		}
	}
	if r.Memory > 0 {
		add("--memory", "memory", "memory.limit_in_bytes", "memory.max", strconv.FormatInt(r.Memory, 10))
	}
	if r.MemoryReservation > 0 {
		add("--memory-reservation", "memory", "memory.soft_limit_in_bytes", "memory.low", strconv.FormatInt(r.MemoryReservation, 10))
	}
	if r.MemorySwap != 0 {
		switch {
		case v2 && r.MemorySwap < 0:
			out = append(out, write{"--memory-swap", "", "memory.swap.max", "max"})
		case v2:
			out = append(out, write{"--memory-swap", "", "memory.swap.max", strconv.FormatInt(max(r.MemorySwap-r.Memory, 0), 10)})
		default:
			out = append(out, write{"--memory-swap", "memory", "memory.memsw.limit_in_bytes", strconv.FormatInt(r.MemorySwap, 10)})
		}
	}
	if r.CPUQuota > 0 {
		period := r.CPUPeriod
		if period == 0 {
			period = 100000
		}
		if v2 {
			out = append(out, write{"--cpus", "", "cpu.max", fmt.Sprintf("%d %d", r.CPUQuota, period)})
		} else {
			out = append(out, write{"--cpus", "cpu", "cpu.cfs_period_us", strconv.FormatInt(period, 10)},
				write{"--cpus", "cpu", "cpu.cfs_quota_us", strconv.FormatInt(r.CPUQuota, 10)})
		}
	}
	if r.CPUShares > 0 {
		add("--cpu-shares", "cpu", "cpu.shares", "cpu.weight", sharesValue(r.CPUShares, v2))
	}
	if r.CpusetCpus != "" {
		add("--cpuset-cpus", "cpuset", "cpuset.cpus", "cpuset.cpus", r.CpusetCpus)
	}
	if r.CpusetMems != "" {
		add("--cpuset-mems", "cpuset", "cpuset.mems", "cpuset.mems", r.CpusetMems)
	}
	if r.PidsLimit != 0 {
		v := strconv.FormatInt(r.PidsLimit, 10)
		if r.PidsLimit < 0 {
			v = "max"
		}
		add("--pids-limit", "pids", "pids.max", "pids.max", v)
	}
	if r.BlkioWeight > 0 {
		add("--blkio-weight", "blkio", "blkio.weight", "io.weight", strconv.Itoa(int(r.BlkioWeight)))
	}
	for _, rt := range r.DeviceReadBps {
		dev := fmt.Sprintf("%d:%d", rt.Major, rt.Minor)
		add("--device-read-bps", "blkio", "blkio.throttle.read_bps_device", "io.max", fmt.Sprintf("%s %d", dev, rt.Bytes))
		if v2 {
			out[len(out)-1].value = fmt.Sprintf("%s rbps=%d", dev, rt.Bytes)
		}
	}
	if r.Devices != nil && !v2 {
		out = append(out, write{"device rules", "devices", "devices.deny", "a"})
		for _, d := range r.Devices {
			out = append(out, write{"device rules", "devices", "devices.allow", d.String()})
		}
	}
	for _, rt := range r.DeviceWriteBps {
		dev := fmt.Sprintf("%d:%d", rt.Major, rt.Minor)
		add("--device-write-bps", "blkio", "blkio.throttle.write_bps_device", "io.max", fmt.Sprintf("%s %d", dev, rt.Bytes))
		if v2 {
			out[len(out)-1].value = fmt.Sprintf("%s wbps=%d", dev, rt.Bytes)
		}
	}
	return out
}

// sharesValue converts docker's cpu shares (2–262144) for v1, or to a v2
// weight (1–10000) as runc does.
func sharesValue(shares uint64, v2 bool) string {
	if !v2 {
		return strconv.FormatUint(shares, 10)
	}
	return strconv.FormatUint(CPUWeight(shares), 10)
}

// CPUWeight is the v2 weight (1–10000) of docker's cpu shares (2–262144),
// converted as runc does.
func CPUWeight(shares uint64) uint64 {
	shares = min(max(shares, 2), 262144)
	return 1 + ((shares-2)*9999)/262142
}

// TaskFiles are the v1 "tasks" files of the group, for a thread that
// moves itself in; nil on v2.
func (g *Group) TaskFiles() []string {
	var out []string
	for ctrl, dir := range g.dirs {
		if ctrl != "" {
			out = append(out, filepath.Join(dir, "tasks"))
		}
	}
	sort.Strings(out)
	return out
}

// DirFD opens the v2 dir for CLONE_INTO_CGROUP; -1 on v1 and hybrid.
func (g *Group) DirFD() (int, error) {
	dir, ok := g.dirs[""]
	if !ok {
		return -1, nil
	}
	return unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
}

// Empty tells whether no process is left in the v2 group (or its dir
// is gone); false on v1.
func (g *Group) Empty() bool {
	dir, ok := g.dirs[""]
	if !ok {
		return false
	}
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.events"))
	if errors.Is(err, os.ErrNotExist) {
		return true
	}
	return err == nil && strings.Contains("\n"+string(b), "\npopulated 0\n")
}

// OOMKilled tells whether the kernel's OOM killer killed a process of the
// group.
func (g *Group) OOMKilled() bool {
	if dir, ok := g.dirs[""]; ok {
		return statValue(filepath.Join(dir, "memory.events"), "oom_kill") > 0
	}
	if dir, ok := g.dirs["memory"]; ok {
		return statValue(filepath.Join(dir, "memory.oom_control"), "oom_kill") > 0
	}
	return false
}

// statValue reads "key value" lines and returns key's value.
func statValue(file, key string) uint64 {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && k == key {
			n, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

// Remove kills what is left in the group and removes its dirs.
func (g *Group) Remove() error {
	var errs []error
	for _, dir := range g.dirs {
		if _, err := os.Stat(dir); err != nil {
			continue
		}
		killAll(dir)
		var err error
		for i := 0; i < 100; i++ {
			if err = unix.Rmdir(dir); err != unix.EBUSY {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err != nil && err != unix.ENOENT {
			errs = append(errs, fmt.Errorf("remove cgroup %s: %w", dir, err))
		}
	}
	return errors.Join(errs...)
}

// killAll sends SIGKILL to every process left in dir.
func killAll(dir string) {
	if os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0) == nil {
		return
	}
	b, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			unix.Kill(pid, unix.SIGKILL)
		}
	}
}

// Mount is a cgroup filesystem to mount in the container, below its
// /sys/fs/cgroup: in its cgroup namespace, a mount's root is the
// container's own cgroup.
type Mount struct {
	Dir     string   `json:"dir,omitempty"` // "" for /sys/fs/cgroup itself (v2)
	FSType  string   `json:"fstype"`        // cgroup2, or cgroup (v1)
	Options string   `json:"options,omitempty"`
	Links   []string `json:"links,omitempty"` // other names of Dir: cpu and cpuacct for cpu,cpuacct
}

// Mounts is what the container mounts of the group: the v2 tree, or on
// v1 one hierarchy for each controller the container has a cgroup of
// its own in (a hierarchy where it has none would show the host's).
func (g *Group) Mounts() []Mount {
	if g.Layout.Version == "v2" {
		return []Mount{{FSType: "cgroup2"}}
	}
	byDir := map[string]*Mount{}
	for ctrl := range g.dirs {
		// co-mounted controllers (cpu,cpuacct) live in one dir, which
		// the single names link to
		dir := ctrl
		if target, err := os.Readlink(filepath.Join(g.Layout.Mount, ctrl)); err == nil {
			dir = filepath.Base(target)
		}
		m := byDir[dir]
		if m == nil {
			m = &Mount{Dir: dir, FSType: "cgroup", Options: dir}
			byDir[dir] = m
		}
		if ctrl != dir {
			m.Links = append(m.Links, ctrl)
		}
	}
	out := make([]Mount, 0, len(byDir))
	for _, m := range byDir {
		sort.Strings(m.Links)
		out = append(out, *m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Dir < out[j].Dir })
	return out
}

// Freeze stops (frozen) or resumes every process of the group, and
// returns once the kernel says it is done: v2's cgroup.freeze, v1's
// freezer.
func (g *Group) Freeze(frozen bool) error {
	file, value, done := "freezer.state", "THAWED", "THAWED"
	dir, ok := g.dirs["freezer"]
	if v2, isV2 := g.dirs[""]; isV2 {
		dir, ok, file, value = v2, true, "cgroup.freeze", "0"
	}
	if !ok {
		return fmt.Errorf("pause: the freezer is %w", ErrUnsupported)
	}
	if frozen {
		value, done = "FROZEN", "FROZEN"
		if file == "cgroup.freeze" {
			value = "1"
		}
	}
	if err := os.WriteFile(filepath.Join(dir, file), []byte(value), 0); err != nil {
		return fmt.Errorf("freeze %s: %w", dir, err)
	}
	for i := 0; i < 500; i++ {
		if file == "cgroup.freeze" {
			if (statValue(filepath.Join(dir, "cgroup.events"), "frozen") == 1) == frozen {
				return nil
			}
		} else if b, _ := os.ReadFile(filepath.Join(dir, file)); strings.TrimSpace(string(b)) == done {
			return nil
		}
		time.Sleep(2 * time.Millisecond)
	}
	return fmt.Errorf("freeze %s: the kernel did not finish", dir)
}

// Controllers are the v2 controllers that r's limits need.
func (r Resources) Controllers() []string {
	var out []string
	need := func(ctrl string, set bool) {
		if set {
			out = append(out, ctrl)
		}
	}
	need("cpu", r.CPUQuota > 0 || r.CPUShares > 0)
	need("cpuset", r.CpusetCpus != "" || r.CpusetMems != "")
	need("io", r.BlkioWeight > 0 || len(r.DeviceReadBps) > 0 || len(r.DeviceWriteBps) > 0)
	need("memory", r.Memory > 0 || r.MemoryReservation > 0 || r.MemorySwap != 0)
	need("pids", r.PidsLimit != 0)
	return out
}

// WatchOOM watches the v2 group's memory.events from now on, for a
// group whose dir someone else removes as soon as it is empty (a systemd
// scope), so that OOMKilled would come too late: the kernel notifies the
// file's watchers as it kills, while the group still is. seen tells,
// once the group is done, whether the OOM killer struck, and stops the
// watch. conmon watches the same way.
func (g *Group) WatchOOM() (seen func() bool, err error) {
	dir, ok := g.dirs[""]
	if !ok {
		return g.OOMKilled, nil
	}
	file := filepath.Join(dir, "memory.events")
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", file, err)
	}
	if _, err := unix.InotifyAddWatch(fd, file, unix.IN_MODIFY); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("watch %s: %w", file, err)
	}
	f := os.NewFile(uintptr(fd), "inotify") // nonblocking: Close ends a Read
	killed := make(chan bool, 1)
	go func() {
		buf := make([]byte, 4096)
		for {
			if _, err := f.Read(buf); err != nil {
				killed <- false
				return
			}
			if statValue(file, "oom_kill") > 0 {
				killed <- true
				return
			}
		}
	}()
	return func() bool {
		f.Close()
		return <-killed || g.OOMKilled()
	}, nil
}
