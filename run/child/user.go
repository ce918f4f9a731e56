package child

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"tug/internal/ids"
)

// Identity is who the container's process runs as.
type Identity struct {
	UID, GID int
	Groups   []int // supplementary, from the image's /etc/group
	Home     string
}

type passwdEntry struct {
	name     string
	uid, gid int
	home     string
	bad      error // an ID out of range: naming this user is an error
}

type groupEntry struct {
	name    string
	gid     int
	members []string
	bad     error
}

// parsePasswd reads /etc/passwd lines; malformed ones are skipped, as libc
// does. An entry whose ID is a number out of range is kept with the
// error, so that naming it fails rather than wrapping to another ID.
func parsePasswd(r io.Reader) []passwdEntry {
	var out []passwdEntry
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		if len(f) < 6 || !ids.IsNumeric(f[2]) || !ids.IsNumeric(f[3]) {
			continue
		}
		e := passwdEntry{name: f[0], home: f[5]}
		var err1, err2 error
		e.uid, err1 = ids.Parse(f[2])
		e.gid, err2 = ids.Parse(f[3])
		if err := errors.Join(err1, err2); err != nil {
			e.bad = fmt.Errorf("user %s in /etc/passwd: %w", f[0], err)
		}
		out = append(out, e)
	}
	return out
}

func parseGroup(r io.Reader) []groupEntry {
	var out []groupEntry
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		if len(f) < 4 || !ids.IsNumeric(f[2]) {
			continue
		}
		e := groupEntry{name: f[0]}
		var err error
		if e.gid, err = ids.Parse(f[2]); err != nil {
			e.bad = fmt.Errorf("group %s in /etc/group: %w", f[0], err)
		}
		if f[3] != "" {
			e.members = strings.Split(f[3], ",")
		}
		out = append(out, e)
	}
	return out
}

// ResolveUser turns -u's USER[:GROUP] (names or numbers) into an
// identity, with the image's passwd and group files (either may be nil).
// A numeric user missing from passwd is allowed, as in docker; a name
// that is missing is an error.
func ResolveUser(spec string, passwd, group io.Reader) (Identity, error) {
	users, groups := []passwdEntry{}, []groupEntry{}
	if passwd != nil {
		users = parsePasswd(passwd)
	}
	if group != nil {
		groups = parseGroup(group)
	}
	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	id := Identity{Home: "/"}
	var name string
	if userPart == "" {
		userPart = "0"
	}
	if ids.IsNumeric(userPart) {
		n, err := ids.Parse(userPart)
		if err != nil {
			return id, fmt.Errorf("invalid user %q: %w", spec, err)
		}
		id.UID = n
		for _, u := range users {
			if u.uid == n && u.bad == nil {
				id.GID, id.Home, name = u.gid, u.home, u.name
				break
			}
		}
	} else {
		found := false
		for _, u := range users {
			if u.name == userPart {
				if u.bad != nil {
					return id, u.bad
				}
				id.UID, id.GID, id.Home, name, found = u.uid, u.gid, u.home, u.name, true
				break
			}
		}
		if !found {
			return id, fmt.Errorf("unable to find user %s: no matching entries in passwd file", userPart)
		}
	}
	if hasGroup {
		gid, err := lookupGroup(groupPart, groups)
		if err != nil {
			return id, err
		}
		id.GID = gid
	}
	for _, g := range groups {
		if g.bad == nil && g.gid != id.GID && name != "" && slices.Contains(g.members, name) {
			id.Groups = append(id.Groups, g.gid)
		}
	}
	return id, nil
}

func lookupGroup(s string, groups []groupEntry) (int, error) {
	if ids.IsNumeric(s) {
		n, err := ids.Parse(s)
		if err != nil {
			return 0, fmt.Errorf("invalid group %q: %w", s, err)
		}
		return n, nil
	}
	for _, g := range groups {
		if g.name == s {
			return g.gid, g.bad
		}
	}
	return 0, fmt.Errorf("unable to find group %s: no matching entries in group file", s)
}
