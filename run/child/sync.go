// Package child is tug's re-exec children, the only code of tug that
// works on the container's side of its namespaces: tug-init builds a
// container and execs its entrypoint; tug-reaper is pid 1 under --init;
// tug-exec joins a running container for tug exec. The parent (package
// run) starts them as tug's own binary, through its read-only mount,
// with the role as argv[0], and speaks with them over inherited fds:
//
//	parent (tug run, a monitor)                  child (tug-init)
//	  |  fd 3…   the N fds of --preserve-fds, where the container gets them
//	  |  fd B    Spec (JSON) ---------------------->  readSpec
//	  |          plumbs the network  (Release)        builds the rootfs
//	  |  fd B    one byte ------------------------->  awaitRelease
//	  |  socket  <---------- pty master (-t, SCM_RIGHTS)  setupConsole
//	  |  socket  one byte, once its size is set ---->
//	  |  fd B+1  <-- one initError (JSON), then exit  on failure
//	  v          EOF: execve closed it (CLOEXEC)      the entrypoint runs
//
// B = 3+N, N in $_TUG_PRESERVE_FDS. fd B+2 is, for tug-init, a pidfd of
// the container whose network it joins (--network container:C). tug-exec
// has the same fds, its childspec.Exec for the Spec and a pidfd of the
// container at B+2; tug-reaper a memfd with its spec at B and the sync
// pipe at B+1, which it closes once it has forked the entrypoint.
package child

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// The roles, by argv[0].
const (
	InitRole   = "tug-init"   // builds a container, execs its entrypoint
	ReaperRole = "tug-reaper" // pid 1 under --init
	ExecRole   = "tug-exec"   // runs a command in a container
)

// RoleArgEnv, set in a re-exec's environment, says that its role is its
// first argument, not argv[0].
const RoleArgEnv = "_TUG_ROLE_ARG"

// PreserveEnv, in a re-exec's environment, is how many fds from 3 on it
// hands the container (--preserve-fds).
const PreserveEnv = "_TUG_PRESERVE_FDS"

// childFDs is where a re-exec child's inherited fds begin: past those
// it passes on.
type childFDs int

// inherited reads the layout from the environment.
func inherited() childFDs {
	n, _ := strconv.Atoi(os.Getenv(PreserveEnv))
	return childFDs(3 + max(n, 0))
}

func (b childFDs) spec() int      { return int(b) }
func (b childFDs) sync() int      { return int(b) + 1 }
func (b childFDs) extra() int     { return int(b) + 2 } // init: the netns owner's pidfd; exec: the container's
func (b childFDs) preserved() int { return int(b) - 3 }

// initError is what the child reports before it exits on failure.
type initError struct {
	Code int    `json:"code"` // exit code for tug: 125, 126 or 127
	Msg  string `json:"msg"`
}

func (e *initError) Error() string { return e.Msg }

// ExitCode returns the exit code tug should end with.
func (e *initError) ExitCode() int { return e.Code }

func fail(code int, format string, args ...any) error {
	return &initError{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// ErrorCode is the exit code for a failed start: the error's own (126
// cannot execute, 127 not found), else 125.
func ErrorCode(err error) int {
	var coder interface{ ExitCode() int }
	if errors.As(err, &coder) {
		return coder.ExitCode()
	}
	return 125
}

// ReadStatus reads a start report: EOF with nothing said means success;
// an initError says what failed.
func ReadStatus(r io.Reader) error {
	msg, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("wait for container: %w", err)
	}
	if len(msg) == 0 {
		return nil
	}
	var ie initError
	if err := json.Unmarshal(msg, &ie); err != nil {
		return fmt.Errorf("container start failed: %s", msg)
	}
	return &ie
}

// WriteStatus reports a failed start in ReadStatus's form.
func WriteStatus(w io.Writer, err error) {
	var ie *initError
	if !errors.As(err, &ie) {
		ie = &initError{Code: 125, Msg: err.Error()}
	}
	b, _ := json.Marshal(ie)
	w.Write(b)
}

// ExitStatus maps a wait status to a shell-style code: 128+N for signal N.
func ExitStatus(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// Forwarded are the signals a foreground tug (or a monitor) passes on to
// the container.
func Forwarded() []os.Signal {
	return []os.Signal{unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2}
}
