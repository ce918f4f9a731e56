package child

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"tug/run/childspec"
)

// addKeptUser adds the --userns keep-id user to the image's /etc/passwd
// and its group to /etc/group where they lack its IDs, as podman does,
// so that its name and $HOME resolve in the container. Each file is
// opened inside the rootfs (OpenIn); one the image lacks, or that is not
// a regular file, is left alone.
func addKeptUser(root int, k *childspec.KeepID) error {
	if k == nil {
		return nil
	}
	passwd := fmt.Sprintf("%s:*:%d:%d:%s:%s:/bin/sh\n", k.Name, k.UID, k.GID, k.Name, k.Home)
	if err := appendEntry(root, "etc/passwd", k.UID, passwd); err != nil {
		return err
	}
	return appendEntry(root, "etc/group", k.GID, fmt.Sprintf("%s:x:%d:\n", k.Name, k.GID))
}

// appendEntry appends line to rel, a passwd or group file, unless one of
// its lines has the ID id already (the third field of both). Anything
// but a regular file is not opened for writing at all.
func appendEntry(root int, rel string, id uint32, line string) error {
	pfd, err := OpenIn(root, rel, unix.O_PATH)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("keep-id: open /%s: %w", rel, err)
	}
	defer unix.Close(pfd)
	var st unix.Stat_t
	if err := unix.Fstat(pfd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil
	}
	// open(2) of the O_PATH fd's magic link: the very file checked
	fd, err := unix.Open(FDPath(pfd), unix.O_RDWR|unix.O_APPEND|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.EROFS) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("keep-id: open /%s: %w", rel, err)
	}
	f := os.NewFile(uintptr(fd), rel)
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 16<<20))
	if err != nil {
		return fmt.Errorf("keep-id: read /%s: %w", rel, err)
	}
	want := strconv.FormatUint(uint64(id), 10)
	for l := range strings.Lines(string(b)) {
		if fields := strings.Split(strings.TrimSpace(l), ":"); len(fields) > 2 && fields[2] == want {
			return nil
		}
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		line = "\n" + line
	}
	if _, err := f.WriteString(line); err != nil {
		return fmt.Errorf("keep-id: add the user to /%s: %w", rel, err)
	}
	return nil
}
