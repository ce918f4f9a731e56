// Package systemd drives the transient scopes of tug's systemd cgroup
// driver: it starts a scope with a process in it and the container's
// limits as unit properties, changes them, and stops it, over D-Bus.
//
// tug talks to the manager on its private socket (/run/systemd/private
// for PID 1, $XDG_RUNTIME_DIR/systemd/private for a user's manager), as
// systemctl does: one connection, no bus daemon in between, no Hello.
// The manager sends every signal to its private connections, so the end
// of a job (JobRemoved) arrives on that one connection.
package systemd

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/godbus/dbus/v5"
)

// Conn is a connection to one systemd manager: the system's or a user's.
type Conn struct {
	bus  *dbus.Conn
	obj  dbus.BusObject
	sigs chan *dbus.Signal
}

// Property is a unit property: a name and its D-Bus value.
type Property struct {
	Name  string
	Value dbus.Variant
}

// Prop makes a Property of a Go value (uint64 → t, []byte → ay…).
func Prop(name string, value any) Property {
	return Property{Name: name, Value: dbus.MakeVariant(value)}
}

// ErrNoUnit marks a unit the manager does not know (or no longer).
var ErrNoUnit = errors.New("no such unit")

// Booted tells whether systemd is the init system (sd_booted(3)).
func Booted() bool {
	fi, err := os.Stat("/run/systemd/system")
	return err == nil && fi.IsDir()
}

// Socket is the private socket of the system manager, or with user of
// the manager of the user whose ID on the host is uid.
func Socket(user bool, uid int, getenv func(string) string) string {
	if !user {
		return "/run/systemd/private"
	}
	dir := getenv("XDG_RUNTIME_DIR")
	if dir == "" {
		dir = fmt.Sprintf("/run/user/%d", uid)
	}
	return filepath.Join(dir, "systemd", "private")
}

// Dial connects to the manager listening on socket, authenticating as
// uid (the caller's ID on the host, which the manager sees).
func Dial(socket string, uid int) (*Conn, error) {
	bus, err := dbus.Dial("unix:path=" + socket)
	if err != nil {
		return nil, fmt.Errorf("systemd: connect to %s: %w", socket, err)
	}
	if err := bus.Auth([]dbus.Auth{dbus.AuthExternal(strconv.Itoa(uid))}); err != nil {
		bus.Close()
		return nil, fmt.Errorf("systemd: authenticate on %s: %w", socket, err)
	}
	c := &Conn{bus: bus, obj: bus.Object("org.freedesktop.systemd1", "/org/freedesktop/systemd1"), sigs: make(chan *dbus.Signal, 32)}
	bus.Signal(c.sigs)
	return c, nil
}

// Close ends the connection.
func (c *Conn) Close() { c.bus.Close() }

// StartScope starts the transient scope unit with pids in it, in slice,
// with props, and returns once the manager has moved them in. A scope of
// that name left over (failed, or still stopping) is stopped first.
func (c *Conn) StartScope(unit, slice string, pids []int, props []Property) error {
	all := append([]Property{
		Prop("Slice", slice),
		Prop("PIDs", wire(pids)),
		// the container manages what is below its scope (its cgroup
		// namespace), and the scope goes as soon as it is empty or failed
		Prop("Delegate", true),
		Prop("DefaultDependencies", false),
		Prop("CollectMode", "inactive-or-failed"),
	}, props...)
	err := c.job("StartTransientUnit", unit, "fail", all, []struct {
		Name  string
		Props []Property
	}{})
	if err != nil && isDBusError(err, "org.freedesktop.systemd1.UnitExists") {
		if err := c.StopUnit(unit); err != nil {
			return err
		}
		err = c.job("StartTransientUnit", unit, "fail", all, []struct {
			Name  string
			Props []Property
		}{})
	}
	if err != nil {
		return fmt.Errorf("systemd: start %s: %w", unit, err)
	}
	return nil
}

// Attach moves pids into the cgroup of unit, a running scope. The
// manager does it with its own privilege (a user's asks the system's
// where its own falls short), so a rootless caller can move a process
// of its own out of a login session's cgroup, which it may not write.
func (c *Conn) Attach(unit string, pids []int) error {
	err := c.obj.Call("org.freedesktop.systemd1.Manager.AttachProcessesToUnit", 0, unit, "", wire(pids)).Err
	if err != nil {
		return fmt.Errorf("systemd: move %v into %s: %w", pids, unit, unitError(err))
	}
	return nil
}

// wire is pids as D-Bus carries them (au).
func wire(pids []int) []uint32 {
	out := make([]uint32, len(pids))
	for i, p := range pids {
		out[i] = uint32(p)
	}
	return out
}

// StopUnit stops unit, killing what is left in it, and returns once it
// is stopped. A unit that is not there is stopped already.
func (c *Conn) StopUnit(unit string) error {
	err := c.job("StopUnit", unit, "replace")
	if errors.Is(err, ErrNoUnit) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("systemd: stop %s: %w", unit, err)
	}
	return nil
}

// SetProperties changes unit's properties until it stops.
func (c *Conn) SetProperties(unit string, props []Property) error {
	err := c.obj.Call("org.freedesktop.systemd1.Manager.SetUnitProperties", 0, unit, true, props).Err
	if err != nil {
		return fmt.Errorf("systemd: set properties of %s: %w", unit, unitError(err))
	}
	return nil
}

// jobTimeout bounds the wait for a job the manager has queued. A stop
// job may rightly take the manager's own stop timeout (90 s by default:
// TERM, then KILL), so the bound lies past it; at 30 s, rm -f under
// emulation gave up on a scope systemd was still stopping.
const jobTimeout = 2 * time.Minute

// job calls a Manager method that queues a job and waits until the job
// is done.
func (c *Conn) job(method string, args ...any) error {
	var path dbus.ObjectPath
	if err := c.obj.Call("org.freedesktop.systemd1.Manager."+method, 0, args...).Store(&path); err != nil {
		return unitError(err)
	}
	timeout := time.After(jobTimeout)
	for {
		select {
		case sig, ok := <-c.sigs:
			if !ok {
				return errors.New("the manager closed the connection")
			}
			if sig.Name != "org.freedesktop.systemd1.Manager.JobRemoved" || len(sig.Body) < 4 {
				continue
			}
			if job, _ := sig.Body[1].(dbus.ObjectPath); job != path {
				continue
			}
			if result, _ := sig.Body[3].(string); result != "done" {
				return fmt.Errorf("job %s", result)
			}
			return nil
		case <-timeout:
			return fmt.Errorf("job %s did not finish in %s", path, jobTimeout)
		}
	}
}

// unitError turns the manager's "no such unit" into ErrNoUnit.
func unitError(err error) error {
	if isDBusError(err, "org.freedesktop.systemd1.NoSuchUnit") {
		return fmt.Errorf("%w: %v", ErrNoUnit, err)
	}
	return err
}

func isDBusError(err error, name string) bool {
	var de dbus.Error
	if errors.As(err, &de) {
		return de.Name == name
	}
	var dp *dbus.Error
	return errors.As(err, &dp) && dp.Name == name
}
