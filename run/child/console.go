package child

// With -t the container's terminal is a pty of its own devpts instance,
// as with docker and podman (runc's console socket): inside, tty says
// /dev/pts/0 and /dev/pts lists it, so ssh, sudo and tmux behave. The
// parent hands the child one end of a socket pair (its fd number is in
// the spec), and once the child's rootfs is built
//
//	child:  open /dev/pts/ptmx, unlock it, open its peer (the slave)
//	child → parent: one byte, with the master as SCM_RIGHTS
//	parent: sets the master's size from the user's terminal
//	parent → child: one byte, the go-ahead
//	child:  binds the slave on /dev/console and makes it stdio
//
// so that the entrypoint never runs on a terminal of the wrong size. A
// child that fails first closes its end: the parent reads EOF, and the
// child's report says why.

import (
	"errors"
	"fmt"
	"tug/run/childspec"

	"golang.org/x/sys/unix"
)

// openConsole makes a pty on the devpts mounted at /dev/pts in this
// mount namespace, sends its master over sock, waits for the go-ahead,
// and returns the slave's fd.
func openConsole(sock int) (int, error) {
	ptmx, err := unix.Open("/dev/pts/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("console: open /dev/pts/ptmx: %w", err)
	}
	defer unix.Close(ptmx)
	var st unix.Stat_t
	if err := unix.Fstat(ptmx, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(st.Rdev) != 5 || unix.Minor(st.Rdev) != 2 {
		return -1, errors.New("console: /dev/pts/ptmx is not a pty multiplexer")
	}
	if err := unix.IoctlSetPointerInt(ptmx, unix.TIOCSPTLCK, 0); err != nil {
		return -1, fmt.Errorf("console: unlock pty: %w", err)
	}
	// TIOCGPTPEER opens the slave through the master, with no path
	// lookup that anything in the container could redirect
	slave, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(ptmx), unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)
	if errno != 0 {
		return -1, fmt.Errorf("console: open the pty's slave: %w", errno)
	}
	if err := unix.Sendmsg(sock, []byte{0}, unix.UnixRights(ptmx), nil, 0); err != nil {
		unix.Close(int(slave))
		return -1, fmt.Errorf("console: send it: %w", err)
	}
	var ack [1]byte
	if n, err := unix.Read(sock, ack[:]); n != 1 {
		unix.Close(int(slave))
		return -1, fmt.Errorf("console: no go-ahead: %v", err)
	}
	unix.Close(sock)
	return int(slave), nil
}

// setupConsole gives the container its console: the slave of a pty of
// its own devpts, bound on /dev/console and made stdio. Without --init
// pid 1 makes it its controlling terminal; with --init the reaper's
// child, the entrypoint, does.
func setupConsole(spec *childspec.Spec) error {
	slave, err := openConsole(spec.ConsoleFD)
	if err != nil {
		return err
	}
	defer unix.Close(slave)
	// /dev is the container's own tmpfs: no path of the image's
	f, err := unix.Open("/dev/console", unix.O_CREAT|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("mount point /dev/console: %w", err)
	}
	unix.Close(f)
	if err := unix.Mount(FDPath(slave), "/dev/console", "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind /dev/console: %w", err)
	}
	for fd := 0; fd <= 2; fd++ {
		if err := unix.Dup3(slave, fd, 0); err != nil {
			return fmt.Errorf("console as stdio: %w", err)
		}
	}
	if spec.Init {
		return nil
	}
	if _, err := unix.Setsid(); err != nil {
		return fmt.Errorf("console: setsid: %w", err)
	}
	if err := unix.IoctlSetInt(0, unix.TIOCSCTTY, 0); err != nil {
		return fmt.Errorf("console: make it the controlling terminal: %w", err)
	}
	return nil
}
