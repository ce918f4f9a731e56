// Package userns puts a rootless tug in a user namespace of its own.
//
// An unprivileged user cannot chown files to other IDs, mknod, mount an
// overlay or make network namespaces. In a user namespace where the
// user is root and the user's subordinate IDs (/etc/subuid, /etc/subgid)
// are 1…N, it can do all of those for the IDs it owns. Go's runtime is
// multi-threaded from the start, and a multi-threaded process can
// neither unshare nor join a user namespace, so tug re-executes itself:
//
//  1. the user's tug (the parent) clones a child with CLONE_NEWUSER and
//     CLONE_NEWNS (a mount namespace of the user's, for its mounts);
//  2. the parent writes the child's ID maps: through the setuid helpers
//     newuidmap and newgidmap when the user has subordinate ranges, or
//     itself (the user's own IDs only, setgroups denied) when not;
//  3. it tells the child to go on, over a pipe. The child exec'd tug
//     right after the clone, unmapped, which clears a process's
//     capabilities; so it raised them all as ambient capabilities first,
//     which survive that exec. tug starts while the maps are written and
//     waits for them before anything else (Continue);
//  4. the parent forwards signals and exits with the child's status.
//
// Every rootless invocation makes a fresh namespace with the same maps,
// so files keep the same owners from one tug to the next; no process is
// kept alive to hold a namespace open.
package userns

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Range maps Count IDs from Inside (in the namespace) to Outside.
type Range struct {
	Inside, Outside, Count uint32
}

// Map is the ID mapping of tug's user namespace.
type Map struct {
	UIDs, GIDs []Range
	// Single is the fallback with no subordinate range: only the user's
	// own IDs are mapped, to 0.
	Single bool
}

// render writes one side of a mapping as uid_map holds it.
func render(rs []Range) string {
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&b, "%d %d %d\n", r.Inside, r.Outside, r.Count)
	}
	return b.String()
}

// UIDString renders the UID map on one line: "0 1000 1, 1 100000 65536".
func (m Map) UIDString() string { return oneLine(m.UIDs) }

// GIDString does the same for the GID map.
func (m Map) GIDString() string { return oneLine(m.GIDs) }

func oneLine(rs []Range) string {
	return strings.ReplaceAll(strings.TrimSpace(render(rs)), "\n", ", ")
}

// SubRange is one line of /etc/subuid or /etc/subgid that names a user.
type SubRange struct {
	Start, Count uint32
}

// ReadSubIDs returns the ranges of file (/etc/subuid or /etc/subgid)
// that belong to the user by name or by number. A missing file has none.
func ReadSubIDs(file, user string, id int) ([]SubRange, error) {
	f, err := os.Open(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseSubIDs(f, user, id)
}

func parseSubIDs(r io.Reader, user string, id int) ([]SubRange, error) {
	var out []SubRange
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Split(strings.TrimSpace(sc.Text()), ":")
		if len(fields) != 3 || (fields[0] != user && fields[0] != strconv.Itoa(id)) {
			continue
		}
		start, err1 := strconv.ParseUint(fields[1], 10, 32)
		count, err2 := strconv.ParseUint(fields[2], 10, 32)
		if err1 != nil || err2 != nil || count == 0 {
			continue
		}
		out = append(out, SubRange{Start: uint32(start), Count: uint32(count)})
	}
	return out, sc.Err()
}

// Plan is the mapping for a user with these subordinate ranges: the
// user's own ID to 0, then the ranges, in order, from 1.
func Plan(uid, gid int, subuids, subgids []SubRange) Map {
	if len(subuids) == 0 || len(subgids) == 0 {
		return Map{
			UIDs:   []Range{{0, uint32(uid), 1}},
			GIDs:   []Range{{0, uint32(gid), 1}},
			Single: true,
		}
	}
	return Map{UIDs: plan(uid, subuids), GIDs: plan(gid, subgids)}
}

func plan(own int, subs []SubRange) []Range {
	rs := []Range{{0, uint32(own), 1}}
	next := uint32(1)
	for _, s := range subs {
		rs = append(rs, Range{next, s.Start, s.Count})
		next += s.Count
	}
	return rs
}

// selfMap reads this process's uid_map or gid_map.
func selfMap(which string) ([]Range, error) {
	b, err := os.ReadFile("/proc/self/" + which)
	if err != nil {
		return nil, err
	}
	var rs []Range
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var r Range
		if _, err := fmt.Sscan(line, &r.Inside, &r.Outside, &r.Count); err == nil {
			rs = append(rs, r)
		}
	}
	return rs, nil
}

// Inside tells whether this process runs in a user namespace other than
// the initial one (whose map is the identity over every ID).
func Inside() bool {
	rs, err := selfMap("uid_map")
	return err == nil && !identity(rs)
}

// identity tells whether rs is the initial namespace's map: every ID to
// itself.
func identity(rs []Range) bool { return len(rs) == 1 && rs[0] == Range{0, 0, 4294967295} }

// Identity tells whether m is the initial namespace's map, which is no
// user namespace of tug's.
func (m Map) Identity() bool { return identity(m.UIDs) }

// Rootless tells whether tug runs for an unprivileged user: as one, or
// as root of a user namespace.
func Rootless() bool { return os.Geteuid() != 0 || Inside() }

// HostUID is the user's ID on the host: the outside ID of this
// process's effective UID.
func HostUID() int { return hostID("uid_map", os.Geteuid()) }

// HostGID is the same for the effective GID.
func HostGID() int { return hostID("gid_map", os.Getegid()) }

func hostID(which string, id int) int {
	rs, err := selfMap(which)
	if err != nil {
		return id
	}
	return outside(rs, id)
}

// outside is the ID that id inside maps to under rs; id itself when rs
// does not map it.
func outside(rs []Range, id int) int {
	for _, r := range rs {
		if uint32(id) >= r.Inside && uint32(id)-r.Inside < r.Count {
			return int(r.Outside + uint32(id) - r.Inside)
		}
	}
	return id
}

// Current is the mapping this process runs under, as Plan describes it.
func Current() (Map, error) {
	u, err := selfMap("uid_map")
	if err != nil {
		return Map{}, err
	}
	g, err := selfMap("gid_map")
	if err != nil {
		return Map{}, err
	}
	return Map{UIDs: u, GIDs: g, Single: len(u) == 1 && u[0].Count == 1}, nil
}

// SetgroupsDenied tells whether this process's user namespace forbids
// setgroups(2), as a single-ID mapping written without newgidmap must.
func SetgroupsDenied() bool {
	b, err := os.ReadFile("/proc/self/setgroups")
	return err == nil && strings.TrimSpace(string(b)) == "deny"
}
