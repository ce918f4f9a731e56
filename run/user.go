package run

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
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
}

type groupEntry struct {
	name    string
	gid     int
	members []string
}

// parsePasswd reads /etc/passwd lines; malformed ones are skipped, as libc
// does.
func parsePasswd(r io.Reader) []passwdEntry {
	var out []passwdEntry
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		if len(f) < 6 {
			continue
		}
		uid, err1 := strconv.Atoi(f[2])
		gid, err2 := strconv.Atoi(f[3])
		if err1 != nil || err2 != nil {
			continue
		}
		out = append(out, passwdEntry{name: f[0], uid: uid, gid: gid, home: f[5]})
	}
	return out
}

func parseGroup(r io.Reader) []groupEntry {
	var out []groupEntry
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		if len(f) < 4 {
			continue
		}
		gid, err := strconv.Atoi(f[2])
		if err != nil {
			continue
		}
		var members []string
		if f[3] != "" {
			members = strings.Split(f[3], ",")
		}
		out = append(out, groupEntry{name: f[0], gid: gid, members: members})
	}
	return out
}

// resolveUser turns -u's USER[:GROUP] (names or numbers) into an
// identity, with the image's passwd and group files (either may be nil).
// A numeric user missing from passwd is allowed, as in docker; a name
// that is missing is an error.
func resolveUser(spec string, passwd, group io.Reader) (Identity, error) {
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
	if n, err := strconv.Atoi(userPart); err == nil {
		if n < 0 {
			return id, fmt.Errorf("invalid user %q", spec)
		}
		id.UID = n
		for _, u := range users {
			if u.uid == n {
				id.GID, id.Home, name = u.gid, u.home, u.name
				break
			}
		}
	} else {
		found := false
		for _, u := range users {
			if u.name == userPart {
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
		if g.gid != id.GID && name != "" && slices.Contains(g.members, name) {
			id.Groups = append(id.Groups, g.gid)
		}
	}
	return id, nil
}

func lookupGroup(s string, groups []groupEntry) (int, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("invalid group %q", s)
		}
		return n, nil
	}
	for _, g := range groups {
		if g.name == s {
			return g.gid, nil
		}
	}
	return 0, fmt.Errorf("unable to find group %s: no matching entries in group file", s)
}
