package archive

import (
	"os"
	"path"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// Glob lists the paths below the directory fd root that pattern (a
// relative, slash-separated path with path.Match wildcards in any of its
// elements) matches, sorted. Each directory it reads is resolved inside
// root, so a symlink on the way never leads the listing out of it.
func Glob(root int, pattern string) ([]string, error) {
	if _, err := path.Match(pattern, ""); err != nil {
		return nil, err
	}
	matches := []string{""}
	for _, el := range strings.Split(strings.Trim(path.Clean("/"+pattern), "/"), "/") {
		var next []string
		for _, dir := range matches {
			if !strings.ContainsAny(el, `*?[\`) {
				next = append(next, path.Join(dir, el))
				continue
			}
			for _, name := range listIn(root, dir) {
				if ok, _ := path.Match(el, name); ok {
					next = append(next, path.Join(dir, name))
				}
			}
		}
		matches = next
	}
	matches = slices.DeleteFunc(matches, func(m string) bool { return !existsIn(root, m) })
	slices.Sort(matches)
	return matches, nil
}

// openIn opens rel below root, resolved inside it.
func openIn(root int, rel string, flags uint64) (int, error) {
	if rel == "" {
		rel = "."
	}
	how := unix.OpenHow{Flags: flags | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS}
	for {
		fd, err := unix.Openat2(root, rel, &how)
		if err != unix.EINTR && err != unix.EAGAIN {
			return fd, err
		}
	}
}

// listIn is the names in the directory rel below root; none when it is
// no directory.
func listIn(root int, rel string) []string {
	fd, err := openIn(root, rel, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return nil
	}
	d := os.NewFile(uintptr(fd), rel)
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	return names
}

// existsIn tells whether rel is there below root (a symlink counts
// itself, whatever it points at).
func existsIn(root int, rel string) bool {
	dir, base := path.Split(rel)
	pfd, err := openIn(root, strings.TrimSuffix(dir, "/"), unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return false
	}
	defer unix.Close(pfd)
	if base == "" {
		return true
	}
	var st unix.Stat_t
	return unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW) == nil
}
