package run

import (
	"io"
	"os"
	"os/exec"
	"os/signal"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// session connects a container's stdio to tug's: through pipes, or with
// -t through a pty whose master tug proxies.
type session struct {
	master, slave *os.File      // -t only
	restore       func()        // puts the host terminal back
	output        chan struct{} // closed when the output copy ends
	winch         chan os.Signal
	logs          []*lineWriter
}

// attach wires cmd's stdio to stdio (nil parts, as for the monitor, are
// left out), to the container's log, if any (exec has none), and to the
// clients of tug attach, if any (a monitor's hub). Without a tty the
// container gets pipes, never tug's own fds: a terminal fd would let it
// inject input into the user's shell (TIOCSTI).
func attach(cmd *exec.Cmd, stdio IO, tty bool, log *logFile, h *hub) (*session, error) {
	s := &session{restore: func() {}}
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
	master, slave, err := pty.Open()
	if err != nil {
		return nil, err
	}
	s.master, s.slave = master, slave
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr.Setsid = true
	cmd.SysProcAttr.Setctty = true
	cmd.SysProcAttr.Ctty = 0
	if stdio.Stdin != nil && term.IsTerminal(int(stdio.Stdin.Fd())) && stdio.Stdout != nil {
		pty.InheritSize(stdio.Stdin, master)
		old, err := term.MakeRaw(int(stdio.Stdin.Fd()))
		if err == nil {
			s.restore = func() { term.Restore(int(stdio.Stdin.Fd()), old) }
		}
		s.winch = make(chan os.Signal, 1)
		signal.Notify(s.winch, unix.SIGWINCH)
		go func() {
			for range s.winch {
				pty.InheritSize(stdio.Stdin, master)
			}
		}()
	}
	s.output = make(chan struct{})
	go func() {
		io.Copy(tee(stdio.Stdout, out), master) // ends with EIO once the container is gone
		close(s.output)
	}()
	if stdio.Stdin != nil {
		go io.Copy(master, stdio.Stdin)
	}
	if h != nil {
		var in io.Writer
		if h.interactive {
			in = master
		}
		h.setInput(in, func(rows, cols uint16) { pty.Setsize(master, &pty.Winsize{Rows: rows, Cols: cols}) })
	}
	return s, nil
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
	if s.master != nil {
		s.master.Close()
	}
	if s.slave != nil {
		s.slave.Close()
	}
	s.restore()
	s.restore = func() {}
}
