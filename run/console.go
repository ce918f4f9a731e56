package run

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// The container's console is made by the child (run/child/console.go
// says how); this is the parent's half.

// receiveConsole is the parent's half: it reads the master the child
// sent over sock (EOF: the child failed first).
func receiveConsole(sock *os.File) (*os.File, error) {
	buf, oob := make([]byte, 1), make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(int(sock.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	if n == 0 {
		return nil, errors.New("console: the container sent none")
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("console: bad message: %v", err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return nil, fmt.Errorf("console: bad message: %v", err)
	}
	if _, err := unix.IoctlGetTermios(fds[0], unix.TCGETS); err != nil {
		unix.Close(fds[0])
		return nil, errors.New("console: the container sent no terminal")
	}
	return os.NewFile(uintptr(fds[0]), "console"), nil
}
