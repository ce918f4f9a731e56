package child

// Who the entrypoint runs as: the user from the image's own passwd and
// group files, the capabilities it keeps, and the command it execs.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"tug/internal/userns"

	"golang.org/x/sys/unix"
)

// containerUser resolves -u and --group-add with the container's own
// /etc/passwd and /etc/group: after pivot_root they cannot lead outside
// the rootfs.
func containerUser(user string, add []string) (Identity, error) {
	passwd, _ := os.ReadFile("/etc/passwd") // none: numbers only
	group, _ := os.ReadFile("/etc/group")
	id, err := ResolveUser(user, bytes.NewReader(passwd), bytes.NewReader(group))
	if err != nil || len(add) == 0 {
		return id, err
	}
	groups := parseGroup(bytes.NewReader(group))
	for _, g := range add {
		gid, err := lookupGroup(g, groups)
		if err != nil {
			return id, fmt.Errorf("--group-add %s: %w", g, err)
		}
		if gid != id.GID && !slices.Contains(id.Groups, gid) {
			id.Groups = append(id.Groups, gid)
		}
	}
	return id, nil
}

// withHome adds HOME from the passwd entry unless the env sets it.
func withHome(env []string, home string) []string {
	for _, kv := range env {
		if strings.HasPrefix(kv, "HOME=") {
			return env
		}
	}
	return append(env, "HOME="+home)
}

// lookPath finds the command in the container's PATH; not found is 127
// and not executable is 126, as in docker.
func lookPath(cmd string, env []string) (string, error) {
	if strings.Contains(cmd, "/") {
		return cmd, checkExecutable(cmd)
	}
	pathVar := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			pathVar = v
		}
	}
	var denied error
	for _, dir := range filepath.SplitList(pathVar) {
		p := filepath.Join(dir, cmd)
		err := checkExecutable(p)
		if err == nil {
			return p, nil
		}
		var ie *initError
		if errors.As(err, &ie) && ie.Code == 126 && denied == nil {
			denied = err
		}
	}
	if denied != nil {
		return "", denied
	}
	return "", fail(127, "exec %q: executable file not found in $PATH", cmd)
}

func checkExecutable(p string) error {
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		return fail(127, "exec %q: no such file or directory", p)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return fail(126, "exec %q: is a directory", p)
	}
	if st.Mode&0o111 == 0 {
		return fail(126, "exec %q: permission denied", p)
	}
	return nil
}

func execError(cmd string, err error) error {
	switch {
	case errors.Is(err, unix.ENOENT):
		return fail(127, "exec %q: no such file or directory", cmd)
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.ENOEXEC), errors.Is(err, unix.EISDIR):
		return fail(126, "exec %q: %s", cmd, err)
	}
	return fail(126, "exec %q: %s", cmd, err)
}

// dropCapabilities removes every capability outside caps from the
// bounding set and clears the ambient set; the process can never regain
// them, whatever it execs.
func dropCapabilities(caps []string) error {
	mask, err := capMask(caps)
	if err != nil {
		return fail(125, "%s", err)
	}
	for c := uintptr(0); c <= LastCap(); c++ {
		if mask&(1<<c) != 0 {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, c, 0, 0, 0); err != nil {
			return fmt.Errorf("drop capability %d: %w", c, err)
		}
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	return nil
}

// setIdentity switches to the container user on this thread and sets the
// capabilities it keeps: the allowed set, effective and permitted, for
// root; none for anyone else (setresuid away from 0 clears them). The
// inheritable set is always empty.
func setIdentity(id Identity, caps []string) error {
	groups := id.Groups
	if groups == nil {
		groups = []int{}
	}
	// with a single-ID mapping setgroups is denied: the user keeps none
	if err := unix.Setgroups(groups); err != nil && !(errors.Is(err, unix.EPERM) && userns.SetgroupsDenied()) {
		return fmt.Errorf("setgroups: %w", err)
	}
	// The raw syscalls change only this thread, the one that execs.
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(id.GID), uintptr(id.GID), uintptr(id.GID)); e != 0 {
		return fmt.Errorf("setresgid %d: %w", id.GID, e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(id.UID), uintptr(id.UID), uintptr(id.UID)); e != 0 {
		return fmt.Errorf("setresuid %d: %w", id.UID, e)
	}
	return setCaps(caps, id.UID == 0)
}

// forkCaps are the capabilities of exec's helper, which forks the
// command with the user's credentials: the allowed set, and CAP_SETUID
// and CAP_SETGID, which the fork's switch to the user needs. What the
// command runs with stays the allowed set: a user's execve keeps none,
// root's gets the bounding set, already dropped to the allowed set
// (dropCapabilities).
func forkCaps(caps []string) []string {
	return append(slices.Clone(caps), "CAP_SETUID", "CAP_SETGID")
}

// setCaps sets this thread's effective and permitted capabilities to the
// allowed set (root) or to nothing, and its inheritable set to nothing.
func setCaps(caps []string, root bool) error {
	var mask uint64
	if root {
		mask, _ = capMask(caps)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var cur [2]unix.CapUserData
	if err := unix.Capget(&hdr, &cur[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	// Nothing can grant what tug itself lacks (a host may withhold, say,
	// CAP_SYS_RESOURCE even from root).
	mask &= uint64(cur[0].Permitted) | uint64(cur[1].Permitted)<<32
	data := [2]unix.CapUserData{
		{Effective: uint32(mask), Permitted: uint32(mask)},
		{Effective: uint32(mask >> 32), Permitted: uint32(mask >> 32)},
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	return nil
}
