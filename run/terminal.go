package run

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// session connects a container's stdio to tug's: through pipes, or with
// -t through the pty the container makes on its own devpts (console.go),
// whose master tug proxies.
type session struct {
	master  *os.File      // -t only, once the container sent it
	slave   *os.File      // the child's end of stdin or of the console socket, closed once it runs
	console *os.File      // -t: tug's end of the console socket
	restore func()        // puts the host terminal back
	output  chan struct{} // closed when the output copy ends
	winch   chan os.Signal
	logs    []*lineWriter
	stdio   IO
	out     io.Writer // where the container's output goes besides stdio.Stdout
	hub     *hub
}

// attach wires cmd's stdio to stdio (nil parts, as for the monitor, are
// left out), to the container's log, if any (exec has none), and to the
// clients of tug attach, if any (a monitor's hub). Without a tty the
// container gets pipes, never tug's own fds: a terminal fd would let it
// inject input into the user's shell (TIOCSTI). With one, it gets
// nothing until it sends its console (takeConsole).
func attach(cmd *exec.Cmd, stdio IO, tty bool, log *logFile, h *hub) (*session, error) {
	s := &session{restore: func() {}, stdio: stdio, hub: h}
	var out, errw io.Writer = io.Discard, io.Discard
	if log != nil {
		o, e := log.stream("stdout"), log.stream("stderr")
		s.logs, out, errw = []*lineWriter{o, e}, o, e
	}
	if h != nil {
		out, errw = io.MultiWriter(out, h.stream(frameStdout)), io.MultiWriter(errw, h.stream(frameStderr))
	}
	if !tty {
		if stdio.Stdin != nil {
			cmd.Stdin = struct{ io.Reader }{stdio.Stdin}
		} else if h != nil && h.interactive {
			r, w, err := os.Pipe()
			if err != nil {
				return nil, err
			}
			cmd.Stdin, s.slave = r, r // the child's end, closed once it runs
			h.setInput(w, nil)
		}
		cmd.Stdout = tee(stdio.Stdout, out)
		cmd.Stderr = tee(stdio.Stderr, errw)
		return s, nil
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("console socket: %w", err)
	}
	s.console, s.slave, s.out = os.NewFile(uintptr(fds[0]), "console"), os.NewFile(uintptr(fds[1]), "console-child"), out
	if s.userTerminal() {
		old, err := term.MakeRaw(int(stdio.Stdin.Fd()))
		if err == nil {
			s.restore = func() { term.Restore(int(stdio.Stdin.Fd()), old) }
		}
	}
	return s, nil
}

// passThrough hands the container tug's own stdio, with no copy and no
// log (--log-driver passthrough), as podman's passthrough does.
func passThrough(cmd *exec.Cmd, stdio IO) *session {
	if stdio.Stdin != nil {
		cmd.Stdin = stdio.Stdin
	}
	cmd.Stdout, cmd.Stderr = stdio.Stdout, stdio.Stderr
	return &session{restore: func() {}}
}

// userTerminal tells whether tug's own stdin is a terminal it proxies.
func (s *session) userTerminal() bool {
	return s.stdio.Stdin != nil && term.IsTerminal(int(s.stdio.Stdin.Fd())) && s.stdio.Stdout != nil
}

// consoleFD hands the child its end of the console socket as the next
// inherited fd and returns its number; 0 without -t.
func (s *session) consoleFD(cmd *exec.Cmd) int {
	if s.console == nil {
		return 0
	}
	cmd.ExtraFiles = append(cmd.ExtraFiles, s.slave)
	return 2 + len(cmd.ExtraFiles)
}

// takeConsole receives the container's pty master, sizes it like the
// user's terminal, lets the container go on, and proxies it. Without -t
// it does nothing.
func (s *session) takeConsole() error {
	if s.console == nil {
		return nil
	}
	master, err := receiveConsole(s.console)
	if err != nil {
		return err
	}
	s.master = master
	if s.userTerminal() {
		pty.InheritSize(s.stdio.Stdin, master)
		s.winch = make(chan os.Signal, 1)
		signal.Notify(s.winch, unix.SIGWINCH)
		go func() {
			for range s.winch {
				pty.InheritSize(s.stdio.Stdin, master)
			}
		}()
	} else if sz := s.stdio.Size; sz[0] > 0 && sz[1] > 0 {
		pty.Setsize(master, &pty.Winsize{Rows: sz[0], Cols: sz[1]})
	}
	if sizes := s.stdio.Resize; sizes != nil {
		go func() {
			for sz := range sizes {
				pty.Setsize(master, &pty.Winsize{Rows: sz[0], Cols: sz[1]})
			}
		}()
	}
	if _, err := s.console.Write([]byte{1}); err != nil {
		return fmt.Errorf("console: %w", err)
	}
	s.output = make(chan struct{})
	go func() {
		// ends with EIO once the container is gone, or with tug's own
		// output broken: closing the master then hangs the container's
		// terminal up rather than leave it blocked on a full pty
		io.Copy(tee(s.stdio.Stdout, s.out), master)
		master.Close()
		close(s.output)
	}()
	if s.stdio.Stdin != nil {
		go io.Copy(master, s.stdio.Stdin)
	}
	if s.hub != nil {
		var in io.Writer
		if s.hub.interactive {
			in = master
		}
		s.hub.setInput(in, func(rows, cols uint16) { pty.Setsize(master, &pty.Winsize{Rows: rows, Cols: cols}) })
	}
	return nil
}

// started drops tug's copy of the pty slave, so that the master reads EOF
// when the container's side closes.
func (s *session) started() {
	if s.slave != nil {
		s.slave.Close()
	}
}

// drain waits for the container's last output and logs any last line
// without a newline.
func (s *session) drain() {
	if s.output != nil {
		<-s.output
	}
	for _, l := range s.logs {
		l.flush()
	}
}

// tee writes to the log and, if there is one, to w as well. It is never
// an *os.File, so exec gives the container a pipe.
func tee(w *os.File, log io.Writer) io.Writer {
	if w == nil {
		return log
	}
	return io.MultiWriter(w, log)
}

// close restores the host terminal; it runs on every exit path.
func (s *session) close() {
	if s.winch != nil {
		signal.Stop(s.winch)
		close(s.winch)
		s.winch = nil
	}
	for _, f := range []*os.File{s.master, s.console} {
		if f != nil {
			f.Close()
		}
	}
	if s.slave != nil {
		s.slave.Close()
	}
	s.restore()
	s.restore = func() {}
}
