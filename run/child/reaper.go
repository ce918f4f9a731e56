package child

// With --init, the container's pid 1 is tug's reaper: it starts the
// entrypoint as its child, forwards every signal to it, reaps every
// zombie, and exits with the entrypoint's status. In a pod's infra
// container (Spec.Pause) it starts nothing: it holds the pod's
// namespaces, reaps, and exits 0 at the stop signal (pause).
//
// The re-exec child (init.go) does not become the reaper itself. It has
// opened files on the host while it built the rootfs, and so has Go's
// runtime (its netpoller's epoll and eventfd, which cannot be closed
// under it). Those fds are close-on-exec, but pid 1 would keep them for
// the container's whole life, open to container root through
// /proc/1/fd. So the child, once pivoted and locked down, execs tug
// again through the fd of its read-only mount (protectedSelf), with
//
//	fd 3…   the fds of --preserve-fds, as for tug-init, passed on
//	fd B    a memfd holding the reaperSpec, as JSON; read, then closed
//	fd B+1  the sync pipe, as for tug-init: a failure report, or EOF
//	        once the entrypoint runs
//
// and nothing else: the exec drops everything that was close-on-exec,
// whoever opened it. The exec keeps the credentials, the bounding set,
// no_new_privs and the seccomp filter; as root, the reaper's permitted
// and effective sets are the bounding set, the container's allowed set.
// The reaper opens no host file: once the entrypoint runs it holds stdio
// alone (for the moment the fork takes, also the sync pipe, so that an
// exec failure is still reported, and Go's fork status pipe), besides
// its own runtime's epoll and eventfd, made inside the container by the
// first open of any package's init (protobuf's reads the binary).

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"

	"tug/internal/textpages"
)

// reaperSpec is what the reaper starts.
type reaperSpec struct {
	Exe  string   `json:"exe"`
	Args []string `json:"args"`
	Env  []string `json:"env"`
	ID   Identity `json:"id"`
	Tty  bool     `json:"tty"`
	// Pause: there is no entrypoint; the reaper holds a pod's
	// namespaces (pause).
	Pause bool `json:"pause,omitempty"`
}

// execReaper hands rs to a fresh tug, the reaper, by execveat of self
// (an O_PATH fd of tug's binary, through /proc). It returns only on failure.
func execReaper(self int, fds childFDs, rs reaperSpec) error {
	b, err := json.Marshal(rs)
	if err != nil {
		return err
	}
	mfd, err := unix.MemfdCreate("tug-reaper", unix.MFD_CLOEXEC)
	if err != nil {
		return fmt.Errorf("--init: memfd: %w", err)
	}
	if _, err := unix.Pwrite(mfd, b, 0); err != nil {
		return fmt.Errorf("--init: write the reaper's spec: %w", err)
	}
	// dup3 without O_CLOEXEC: fd 3 (the spec pipe's, closed by this)
	// and the sync pipe cross the exec; nothing else does.
	if err := unix.Dup3(mfd, fds.spec(), 0); err != nil {
		return fmt.Errorf("--init: %w", err)
	}
	if _, err := unix.FcntlInt(uintptr(fds.sync()), unix.F_SETFD, 0); err != nil {
		return fmt.Errorf("--init: %w", err)
	}
	// the container's own /proc resolves the fd to the detached mount
	env := []string{"GOMAXPROCS=1", fmt.Sprintf("%s=%d", PreserveEnv, fds.preserved())}
	err = unix.Exec(FDPath(self), []string{ReaperRole}, env)
	return fmt.Errorf("--init: exec the reaper: %w", err)
}

// Reaper is the main of the reaper role. It never returns.
func Reaper() {
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs)
	fds := inherited()
	code, err := reaper(sigs, fds)
	if err != nil {
		WriteStatus(os.NewFile(uintptr(fds.sync()), "sync"), err)
		code = ErrorCode(err)
	}
	os.Exit(code)
}

func reaper(sigs chan os.Signal, fds childFDs) (int, error) {
	unix.CloseOnExec(fds.sync()) // the reaper's, not the entrypoint's
	var rs reaperSpec
	spec := os.NewFile(uintptr(fds.spec()), "reaper-spec")
	b, err := io.ReadAll(spec)
	spec.Close()
	if err == nil {
		err = json.Unmarshal(b, &rs)
	}
	if err != nil {
		return 0, fmt.Errorf("--init: read the reaper's spec: %w", err)
	}
	if rs.Pause {
		unix.Close(fds.sync()) // nothing more can fail
		textpages.Drop()       // it holds namespaces for the pod's life
		return pause(sigs), nil
	}
	groups := make([]uint32, len(rs.ID.Groups))
	for i, g := range rs.ID.Groups {
		groups[i] = uint32(g)
	}
	files := []uintptr{0, 1, 2}
	for fd := 3; fd < 3+fds.preserved(); fd++ {
		files = append(files, uintptr(fd))
	}
	pid, err := syscall.ForkExec(rs.Exe, rs.Args, &syscall.ProcAttr{
		Env:   rs.Env,
		Files: files,
		Sys: &syscall.SysProcAttr{
			Credential: &syscall.Credential{Uid: uint32(rs.ID.UID), Gid: uint32(rs.ID.GID), Groups: groups},
			Setsid:     rs.Tty,
			Setctty:    rs.Tty,
		},
	})
	if err != nil {
		return 0, execError(rs.Args[0], err)
	}
	unix.Close(fds.sync()) // the entrypoint runs: tell the parent
	for fd := 3; fd < 3+fds.preserved(); fd++ {
		unix.Close(fd) // the entrypoint's, not the reaper's
	}
	return reap(pid, sigs), nil
}

// reap waits for children until the entrypoint exits, forwarding signals.
func reap(child int, sigs chan os.Signal) int {
	return reapWith(child, sigs, func(s unix.Signal) { unix.Kill(child, s) })
}

// reapWith waits for child, handing each forwarded signal to forward.
func reapWith(child int, sigs chan os.Signal, forward func(unix.Signal)) int {
	exited := make(chan int, 1)
	go func() {
		for {
			var ws unix.WaitStatus
			pid, err := unix.Wait4(-1, &ws, 0, nil)
			if err == unix.EINTR {
				continue
			}
			if err != nil || pid == child {
				exited <- ExitStatus(ws)
				return
			}
		}
	}()
	for {
		select {
		case code := <-exited:
			return code
		case s := <-sigs:
			if s == unix.SIGCHLD || s == unix.SIGURG { // SIGURG: Go's own preemption
				continue
			}
			forward(s.(unix.Signal))
		}
	}
}

// pause is pid 1 of a pod's infra container: it holds the pod's
// namespaces, reaps whatever is reparented to it (the pod's processes,
// when it shares a pid namespace), and exits 0 at SIGTERM, SIGINT or
// SIGHUP.
func pause(sigs chan os.Signal) int {
	for s := range sigs {
		switch s {
		case unix.SIGCHLD:
			for {
				pid, err := unix.Wait4(-1, nil, unix.WNOHANG, nil)
				if pid <= 0 || err != nil {
					break
				}
			}
		case unix.SIGTERM, unix.SIGINT, unix.SIGHUP:
			return 0
		}
	}
	return 0
}
