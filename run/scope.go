package run

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"tug/internal/userns"
	"tug/run/cgroups"
	"tug/run/cgroups/systemd"
	"tug/store"
)

// The cgroup managers of [engine] cgroup_manager.
const (
	ManagerCgroupfs = "cgroupfs"
	ManagerSystemd  = "systemd"
)

// scopeSlice is the slice every scope of tug's is in.
const scopeSlice = "tug.slice"

// CgroupManager resolves the cgroup manager that new containers get
// from the configured one: systemd when asked for, or by default when
// systemd is PID 1 on a v2 host and the manager (the user's, rootless)
// listens; cgroupfs otherwise, as podman decides.
func CgroupManager(s *store.Store, configured string) (string, error) {
	switch configured {
	case ManagerCgroupfs:
		return configured, nil
	case "", ManagerSystemd:
	default:
		return "", fmt.Errorf("[engine] cgroup_manager %q: want systemd or cgroupfs", configured)
	}
	why := systemdMissing(s.Rootless(), userns.HostUID())
	switch {
	case why == "":
		return ManagerSystemd, nil
	case configured == "":
		return ManagerCgroupfs, nil
	}
	return "", fmt.Errorf("[engine] cgroup_manager = systemd: %s (set cgroup_manager = \"cgroupfs\")", why)
}

// systemdMissing says why the systemd driver cannot work here, or "".
func systemdMissing(rootless bool, uid int) string {
	if !systemd.Booted() {
		return "systemd is not the init system"
	}
	if l, err := cgroups.Detect("/sys/fs/cgroup"); err != nil || l.Version != "v2" {
		return "tug drives systemd's scopes on cgroup v2 only"
	}
	sock := systemd.Socket(rootless, uid, os.Getenv)
	if _, err := os.Stat(sock); err != nil {
		return "no systemd manager listens on " + sock
	}
	return ""
}

// driver is where a container's cgroup is, under the manager it was
// created with.
type driver struct {
	layout   cgroups.Layout
	systemd  bool
	rootless bool
	uid      int // tug's user, on the host
}

// driverOf reads the host's layout for a container created with cfg
// (nil: not known, as for a bad record).
func driverOf(s *store.Store, cfg *Config) (driver, error) {
	l, err := cgroups.Detect("/sys/fs/cgroup")
	if err != nil {
		return driver{}, err
	}
	d := driver{layout: l, rootless: s.Rootless(), uid: userns.HostUID()}
	d.systemd = cfg != nil && cfg.CgroupManager == ManagerSystemd && l.Version == "v2"
	return d, nil
}

// unit is the scope of the container id, or with monitor of its monitor.
func unit(id string, monitor bool) string {
	if monitor {
		return "tug-monitor-" + id + ".scope"
	}
	return "tug-" + id + ".scope"
}

// group is the container's cgroup: nil for a rootless container
// under cgroupfs, which has none.
func (d driver) group(id string, r *cgroups.Resources) *cgroups.Group {
	switch {
	case d.systemd:
		base := d.layout.Unified
		if d.rootless {
			base = d.userRoot()
		}
		return cgroups.OpenDir(d.layout, id, filepath.Join(base, scopeSlice, unit(id, false)))
	case d.rootless:
		return nil
	}
	return cgroups.Open(d.layout, id, r)
}

// userRoot is the cgroup of the user's systemd (user@UID.service).
func (d driver) userRoot() string {
	return filepath.Join(d.layout.Unified, "user.slice", fmt.Sprintf("user-%d.slice", d.uid), fmt.Sprintf("user@%d.service", d.uid))
}

// dial connects to the systemd manager of tug's scopes.
func (d driver) dial() (*systemd.Conn, error) {
	return systemd.Dial(systemd.Socket(d.rootless, d.uid, os.Getenv), d.uid)
}

// startScope starts the container's scope with pid (its init, which
// waits for its spec) in it and r's limits, and puts on it what systemd
// has no property for: tug's device filter, and rates of devices that
// /dev/block does not name.
func (d driver) startScope(conn *systemd.Conn, id string, pid int, r cgroups.Resources) (*cgroups.Group, error) {
	props, rates, err := systemd.Properties(r)
	if err != nil {
		return nil, err
	}
	props = append(props, systemd.Prop("Description", "tug container "+id[:12]))
	if err := conn.StartScope(unit(id, false), scopeSlice, []int{pid}, props); err != nil {
		return nil, err
	}
	g := d.group(id, nil)
	if d.rootless {
		// no device filter: loading BPF takes privilege, and a user
		// namespace can make no device nodes anyway
		r.Devices = nil
	}
	if err := g.AttachDevices(r.Devices); err != nil {
		return g, err
	}
	return g, g.Set(cgroups.Resources{DeviceReadBps: onlyRates(rates, r.DeviceReadBps), DeviceWriteBps: onlyRates(rates, r.DeviceWriteBps)})
}

// dialAhead starts connecting to the manager now, for a launch to use
// the connection a few steps later: the handshake overlaps the steps
// between. The caller closes what it returns.
func (d driver) dialAhead() func() (*systemd.Conn, error) {
	type dialed struct {
		conn *systemd.Conn
		err  error
	}
	ch := make(chan dialed, 1)
	go func() {
		conn, err := d.dial()
		ch <- dialed{conn, err}
	}()
	return sync.OnceValues(func() (*systemd.Conn, error) {
		r := <-ch
		return r.conn, r.err
	})
}

// onlyRates keeps of all the rates that are in left.
func onlyRates(left, all []cgroups.Rate) []cgroups.Rate {
	var out []cgroups.Rate
	for _, rt := range all {
		for _, l := range left {
			if l == rt {
				out = append(out, rt)
				break
			}
		}
	}
	return out
}

// enterMonitorScope moves the monitor (this process) into a scope of
// its own, out of the unit of whoever ran tug: stopping that unit then
// neither waits for the container nor kills it.
func enterMonitorScope(s *store.Store, c *store.Container, cfg *Config) error {
	d, err := driverOf(s, cfg)
	if err != nil || !d.systemd {
		return err
	}
	conn, err := d.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	err = conn.StartScope(unit(c.ID, true), scopeSlice, []int{os.Getpid()},
		[]systemd.Property{systemd.Prop("Description", "tug monitor of "+c.ID[:12])})
	if err != nil {
		return fmt.Errorf("monitor of %s: %w", c.Name, err)
	}
	return nil
}

// scopeEntry is how a rootless exec helper gets into the container's
// scope of the user's systemd (nil: the container has none): the
// manager moves it, since the helper may not write the cgroup it
// leaves, a login session's, which is root's.
func scopeEntry(s *store.Store, c *store.Container, cfg *Config) (func(pid int) error, error) {
	d, err := driverOf(s, cfg)
	if err != nil || !d.systemd {
		return nil, err
	}
	return func(pid int) error {
		conn, err := d.dial()
		if err != nil {
			return err
		}
		defer conn.Close()
		return conn.Attach(unit(c.ID, false), []int{pid})
	}, nil
}

// set changes a running container's limits to r.
func (d driver) set(id string, r, changes cgroups.Resources) error {
	g := d.group(id, &r)
	if g == nil {
		return errors.New(rootlessLimits)
	}
	if !d.systemd {
		return g.Set(changes)
	}
	props, rates, err := systemd.Properties(changes)
	if err != nil {
		return err
	}
	conn, err := d.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetProperties(unit(id, false), props); err != nil {
		return err
	}
	return g.Set(cgroups.Resources{DeviceReadBps: onlyRates(rates, changes.DeviceReadBps), DeviceWriteBps: onlyRates(rates, changes.DeviceWriteBps)})
}

// remove kills what is left of the container id and removes its cgroup:
// under systemd it stops the container's scope, and with monitor its
// monitor's too (a manager that does not answer leaves the killing to
// the cgroup's files).
func (d driver) remove(id string, monitor bool) error {
	if d.systemd {
		if conn, err := d.dial(); err == nil {
			err = conn.StopUnit(unit(id, false))
			if monitor {
				err = errors.Join(err, conn.StopUnit(unit(id, true)))
			}
			conn.Close()
			if err != nil {
				return err
			}
		}
	}
	if g := d.group(id, nil); g != nil {
		return g.Remove()
	}
	return nil
}

// removeAny removes the cgroup of a container whose record is lost,
// under either manager.
func (d driver) removeAny(id string) error {
	err := d.remove(id, true)
	if d.systemd = systemdMissing(d.rootless, d.uid) == ""; d.systemd {
		err = errors.Join(err, d.remove(id, true))
	}
	return err
}

// Delegated reads which controllers the user's systemd has delegated
// to it: those of the cgroup of user@UID.service, where tug makes the
// scopes of rootless containers.
func Delegated(s *store.Store) (unit string, controllers []string, err error) {
	d, err := driverOf(s, nil)
	if err != nil {
		return "", nil, err
	}
	unit = fmt.Sprintf("user@%d.service", d.uid)
	have, err := os.ReadFile(filepath.Join(d.userRoot(), "cgroup.controllers"))
	if err != nil {
		return unit, nil, fmt.Errorf("the cgroup of %s: %w", unit, err)
	}
	return unit, strings.Fields(string(have)), nil
}

// unenforced says why limits r of a container would do nothing, or
// "": a rootless container has limits only in a scope of the user's
// systemd, with the controllers they need delegated to it.
func unenforced(s *store.Store, manager string, r cgroups.Resources) string {
	if !s.Rootless() || r.Empty() {
		return ""
	}
	if manager != ManagerSystemd {
		return rootlessLimits
	}
	unit, have, err := Delegated(s)
	if err != nil {
		return fmt.Sprintf("%s: %v", rootlessLimits, err)
	}
	var missing []string
	for _, c := range r.Controllers() {
		if !slices.Contains(have, c) {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return fmt.Sprintf("resource limits are not enforced: %s has no %s controller delegated (see tug doctor)", unit, strings.Join(missing, ", "))
	}
	return ""
}
