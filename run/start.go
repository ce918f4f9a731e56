package run

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"tug/store"
)

// IO is what a container's stdio connects to. Stdin nil means no -i: the
// container's stdin reads nothing.
type IO struct {
	Stdin          *os.File
	Stdout, Stderr *os.File
}

// ErrRunning is returned when starting a container that runs already.
var ErrRunning = errors.New("container is running")

// forwarded are the signals a foreground tug passes on to the container.
func forwarded() []os.Signal {
	return []os.Signal{unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2}
}

// Start runs container c in the foreground, attached to stdio, and
// returns its entrypoint's exit code (128+N when killed by signal N).
// An error means the container could not start; it carries the exit code
// tug should end with (125, 126 or 127) when it has an ExitCode method.
func Start(s *store.Store, c *store.Container, stdio IO) (int, error) {
	cfg, err := ContainerConfig(c)
	if err != nil {
		return 0, err
	}
	if st, err := s.State(c.ID); err != nil {
		return 0, err
	} else if st.Status == store.StatusRunning && processAlive(st.Pid) {
		return 0, fmt.Errorf("start %s: %w", c.Name, ErrRunning)
	}
	code, err := start(s, c, cfg, stdio)
	if cfg.AutoRemove {
		if rerr := s.RemoveContainer(c.ID); rerr != nil && err == nil {
			err = rerr
		}
	}
	return code, err
}

func processAlive(pid int) bool {
	return pid > 0 && unix.Kill(pid, 0) == nil
}

func start(s *store.Store, c *store.Container, cfg *Config, stdio IO) (int, error) {
	spec := cfg.Spec
	if err := prepare(s, c, &spec); err != nil {
		return 0, err
	}
	if !cfg.Interactive {
		stdio.Stdin = nil
	}
	exe, err := protectedSelf()
	if err != nil {
		return 0, err
	}
	defer exe.Close()
	specR, specW, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer specR.Close()
	defer specW.Close()
	syncR, syncW, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer syncR.Close()
	defer syncW.Close()
	cmd := &exec.Cmd{
		Path: fmt.Sprintf("/proc/self/fd/%d", exe.Fd()),
		Args: []string{InitRole},
		// The child does one thing at a time; one P spares it the start
		// of idle threads (about 0.3 ms a start here).
		Env:        []string{"GOMAXPROCS=1"},
		ExtraFiles: []*os.File{specR, syncW}, // fds 3 and 4, see init.go
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS |
				unix.CLONE_NEWIPC | unix.CLONE_NEWNET | unix.CLONE_NEWCGROUP,
			// The container dies with the foreground tug.
			Pdeathsig: unix.SIGKILL,
		},
		WaitDelay: time.Second,
	}
	term, err := attach(cmd, stdio, spec.Tty)
	if err != nil {
		return 0, err
	}
	defer term.close()
	// Pdeathsig fires when the thread that forked exits: keep it.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, forwarded()...)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start container: %w", err)
	}
	specR.Close()
	syncW.Close()
	term.started()
	if err := handshake(cmd, specW, syncR, &spec); err != nil {
		cmd.Wait()
		return 0, err
	}
	started := time.Now().UTC()
	if err := s.SetState(c.ID, &store.ContainerState{Status: store.StatusRunning, Pid: cmd.Process.Pid, StartedAt: started}); err != nil {
		cmd.Process.Kill()
	}
	code := wait(cmd, sigs)
	term.drain()
	st := &store.ContainerState{Status: store.StatusExited, ExitCode: code, StartedAt: started, FinishedAt: time.Now().UTC()}
	return code, s.SetState(c.ID, st)
}

// handshake sends the spec and waits for the child to exec: EOF on the
// sync pipe means the entrypoint runs; a message means it failed.
func handshake(cmd *exec.Cmd, specW, syncR *os.File, spec *Spec) error {
	if err := json.NewEncoder(specW).Encode(spec); err != nil {
		return fmt.Errorf("send container spec: %w", err)
	}
	specW.Close()
	msg, err := io.ReadAll(syncR)
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

// wait forwards signals to the container until it exits and returns its
// exit code.
func wait(cmd *exec.Cmd, sigs chan os.Signal) int {
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				cmd.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()
	cmd.Wait()
	close(done)
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok {
		return 125
	}
	return exitStatus(unix.WaitStatus(ws))
}
