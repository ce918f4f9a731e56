package run

// A detached container's monitor serves its stdio on a unix socket,
// <runroot>/attach/<short id>.sock, for tug attach. Both ways the socket
// carries frames:
//
//	[1 byte kind][4 bytes big-endian length][payload]
//
// From the monitor: kind 1 is stdout, 2 stderr, and 4 the exit code
// (big-endian int32) once the container exited for good. From a client:
// kind 0 is stdin, 3 a window size (two big-endian uint16: rows, cols),
// 5 the end of the client's stdin, which closes the container's when it
// has no terminal. A slow client is dropped rather than allowed to stall
// the container.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"tug/store"
)

const (
	frameStdin  = 0
	frameStdout = 1
	frameStderr = 2
	frameResize = 3
	frameExit   = 4
	frameEOF    = 5
)

// attachSocket is where a container's monitor listens.
func attachSocket(s *store.Store, c *store.Container) string {
	return filepath.Join(s.RunRoot(), "attach", c.ID[:12]+".sock")
}

// writeFrame writes one frame in one write: a net.Conn's writes do not
// interleave, so input and window sizes can be sent from two goroutines.
func writeFrame(w io.Writer, kind byte, p []byte) error {
	frame := make([]byte, 5, 5+len(p))
	frame[0] = kind
	binary.BigEndian.PutUint32(frame[1:], uint32(len(p)))
	_, err := w.Write(append(frame, p...))
	return err
}

func readFrame(r io.Reader) (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > 1<<20 {
		return 0, nil, errors.New("attach: frame too large")
	}
	p := make([]byte, n)
	_, err := io.ReadFull(r, p)
	return hdr[0], p, err
}

// hub fans a container's output out to attached clients and takes their
// input.
type hub struct {
	mu          sync.Mutex
	clients     map[chan []byte]struct{}
	interactive bool      // the container keeps stdin open (-i)
	stdin       io.Writer // nil when the container has no stdin
	resize      func(rows, cols uint16)
	size        []byte        // the last window size a client sent
	first       chan struct{} // closed when the first client connects
	firstOnce   sync.Once
	writers     sync.WaitGroup // the clients' writers, until they sent all
	ln          net.Listener
	path        string
}

// setInput points client input at the container's current run, its
// terminal at the size a client sent before it ran.
func (h *hub) setInput(stdin io.Writer, resize func(rows, cols uint16)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stdin, h.resize = stdin, resize
	if resize != nil && h.size != nil {
		resize(binary.BigEndian.Uint16(h.size), binary.BigEndian.Uint16(h.size[2:]))
	}
}

// closeInput closes stdin, the pipe to a container without a terminal,
// if it is still the current run's.
func (h *hub) closeInput(stdin io.Writer) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c, ok := stdin.(io.Closer); ok && h.stdin == stdin {
		c.Close()
		h.stdin = nil
	}
}

// serveAttach listens on the container's attach socket.
func serveAttach(s *store.Store, c *store.Container, interactive bool) (*hub, error) {
	p := attachSocket(s, c)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return nil, err
	}
	os.Remove(p)
	ln, err := net.Listen("unix", p)
	if err != nil {
		return nil, fmt.Errorf("attach socket: %w", err)
	}
	h := &hub{clients: map[chan []byte]struct{}{}, ln: ln, path: p, interactive: interactive, first: make(chan struct{})}
	go h.accept()
	return h, nil
}

func (h *hub) accept() {
	for {
		conn, err := h.ln.Accept()
		if err != nil {
			return
		}
		go h.serve(conn)
	}
}

func (h *hub) serve(conn net.Conn) {
	defer conn.Close()
	out := make(chan []byte, 256)
	h.mu.Lock()
	h.clients[out] = struct{}{}
	h.writers.Add(1)
	h.mu.Unlock()
	defer h.writers.Done()
	h.firstOnce.Do(func() { close(h.first) })
	go func() {
		for {
			kind, p, err := readFrame(conn)
			if err != nil {
				return
			}
			h.mu.Lock()
			stdin, resize := h.stdin, h.resize
			if kind == frameResize && len(p) == 4 {
				h.size = p
			}
			h.mu.Unlock()
			switch {
			case kind == frameStdin && stdin != nil:
				stdin.Write(p)
			case kind == frameResize && resize != nil && len(p) == 4:
				resize(binary.BigEndian.Uint16(p), binary.BigEndian.Uint16(p[2:]))
			case kind == frameEOF && resize == nil:
				h.closeInput(stdin)
			}
		}
	}()
	for frame := range out {
		if _, err := conn.Write(frame); err != nil {
			h.drop(out)
			return
		}
	}
}

func (h *hub) drop(out chan []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.clients[out]; ok {
		delete(h.clients, out)
		close(out)
	}
}

// stream returns a writer that sends what it gets to every client.
func (h *hub) stream(kind byte) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		var frame []byte
		frame = append(frame, kind, 0, 0, 0, 0)
		binary.BigEndian.PutUint32(frame[1:5], uint32(len(p)))
		frame = append(frame, p...)
		h.mu.Lock()
		defer h.mu.Unlock()
		for c := range h.clients {
			select {
			case c <- frame:
			default: // too slow: let it go
				delete(h.clients, c)
				close(c)
			}
		}
		return len(p), nil
	})
}

// awaitClient waits until a client is attached, or for limit.
func (h *hub) awaitClient(limit time.Duration) {
	select {
	case <-h.first:
	case <-time.After(limit):
	}
}

// exit tells every client the container's exit code.
func (h *hub) exit(code int) {
	p := make([]byte, 4)
	binary.BigEndian.PutUint32(p, uint32(int32(code)))
	h.stream(frameExit).Write(p)
}

// close ends every attachment: the container is gone. Each client gets
// what is queued for it first (the container's last output, its exit
// code), for a second at most.
func (h *hub) close() {
	h.ln.Close()
	os.Remove(h.path)
	h.mu.Lock()
	for c := range h.clients {
		delete(h.clients, c)
		close(c)
	}
	h.mu.Unlock()
	flushed := make(chan struct{})
	go func() {
		h.writers.Wait()
		close(flushed)
	}()
	select {
	case <-flushed:
	case <-time.After(time.Second):
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// DefaultDetachKeys is docker's detach sequence.
const DefaultDetachKeys = "ctrl-p,ctrl-q"

// ParseDetachKeys reads --detach-keys as docker does: keys separated by
// commas, each a character or ctrl-X (X a letter or one of @[\]^_);
// empty means no detaching.
func ParseDetachKeys(s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	var keys []byte
	for _, k := range strings.Split(s, ",") {
		switch {
		case len(k) == 1:
			keys = append(keys, k[0])
		case len(k) == 6 && strings.HasPrefix(strings.ToLower(k), "ctrl-"):
			c := k[5]
			switch {
			case c >= 'a' && c <= 'z':
				keys = append(keys, c-'a'+1)
			case c >= 'A' && c <= 'Z':
				keys = append(keys, c-'A'+1)
			case strings.IndexByte("@[\\]^_", c) >= 0:
				keys = append(keys, c-'@')
			default:
				return nil, fmt.Errorf("--detach-keys %q: no such key ctrl-%c", s, c)
			}
		default:
			return nil, fmt.Errorf("--detach-keys %q: want keys like ctrl-p,ctrl-q or ctrl-a,x", s)
		}
	}
	return keys, nil
}

// Attach connects tug's stdio to a running detached container until it
// exits (then its exit code is returned) or, on a terminal, the user
// types the detach keys (ParseDetachKeys; none: no detaching).
func Attach(s *store.Store, c *store.Container, stdio IO, detachKeys []byte) (int, error) {
	return attachRunning(s, c, func(cfg *Config, conn net.Conn) (int, error) {
		return attachSession(s, c, cfg, conn, stdio, detachKeys, nil)
	})
}

// attachRunning connects to the monitor of a running container and runs
// session as its client.
func attachRunning(s *store.Store, c *store.Container, session func(cfg *Config, conn net.Conn) (int, error)) (int, error) {
	cfg, err := ContainerConfig(c)
	if err != nil {
		return 0, err
	}
	if err := cfg.attachable(c); err != nil {
		return 0, err
	}
	conn, err := net.Dial("unix", attachSocket(s, c))
	if err != nil {
		return 0, fmt.Errorf("attach %s: %w (is it running detached?)", c.Name, ErrNotRunning)
	}
	defer conn.Close()
	return session(cfg, conn)
}

// attachSession is one attachment on conn: the terminal raw and its size
// sent (again on each SIGWINCH), stdin sent, output written, until the
// container exits or the user detaches. started, if not nil, is waited
// for once the terminal is set (the container starts meanwhile).
func attachSession(s *store.Store, c *store.Container, cfg *Config, conn net.Conn, stdio IO, detachKeys []byte, started func() error) (int, error) {
	tty := cfg.Spec.Tty && stdio.Stdin != nil && term.IsTerminal(int(stdio.Stdin.Fd()))
	if tty {
		old, err := term.MakeRaw(int(stdio.Stdin.Fd()))
		if err == nil {
			defer term.Restore(int(stdio.Stdin.Fd()), old)
		}
		winch := make(chan os.Signal, 1)
		signal.Notify(winch, unix.SIGWINCH)
		defer signal.Stop(winch)
		sendSize(conn, stdio.Stdin)
		go func() {
			for range winch {
				sendSize(conn, stdio.Stdin)
			}
		}()
	}
	st := Streams{Stdout: stdio.Stdout, Stderr: stdio.Stderr}
	if stdio.Stdin != nil {
		st.Stdin = stdio.Stdin
	}
	return pump(s, c, cfg, conn, st, tty, detachKeys, started)
}

// Streams are the ends of an attach that are not tug's own stdio, as
// the API's clients attach: a nil Stdin for none.
type Streams struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Resize         <-chan [2]uint16 // exec's terminal sizes (rows, cols)
	// Gone is closed when the client has gone: the session ends, and
	// the container runs on.
	Gone <-chan struct{}
}

// ErrClientGone ends an attach whose client went away.
var ErrClientGone = errors.New("the attached client went away")

// AttachStreams attaches st to a running container, as Attach does,
// until it exits (its exit code) or the monitor goes.
func AttachStreams(s *store.Store, c *store.Container, st Streams) (int, error) {
	return attachRunning(s, c, func(cfg *Config, conn net.Conn) (int, error) {
		return pump(s, c, cfg, conn, st, false, nil, nil)
	})
}

// Resize sets the size of a running container's terminal, as an
// attached client's window change does (the API's resize).
func Resize(s *store.Store, c *store.Container, rows, cols uint16) error {
	conn, err := net.Dial("unix", attachSocket(s, c))
	if err != nil {
		return fmt.Errorf("resize %s: %w", c.Name, ErrNotRunning)
	}
	defer conn.Close()
	p := make([]byte, 4)
	binary.BigEndian.PutUint16(p, rows)
	binary.BigEndian.PutUint16(p[2:], cols)
	return writeFrame(conn, frameResize, p)
}

// pump runs an attach session on conn: once started (if not nil) says
// the entrypoint runs, input goes to the monitor and output to st,
// until the container exits or the detach keys are typed on tty.
func pump(s *store.Store, c *store.Container, cfg *Config, conn net.Conn, st Streams, tty bool, detachKeys []byte, started func() error) (int, error) {
	if started != nil {
		if err := started(); err != nil {
			return 0, err
		}
	}
	detached := make(chan struct{})
	if cfg.Interactive && st.Stdin != nil {
		go sendInput(conn, st.Stdin, tty, detachKeys, detached)
	}
	done := make(chan struct{})
	code := -1
	var broken error // the client's end of the output
	go func() {
		defer close(done)
		for {
			kind, p, err := readFrame(conn)
			if err != nil {
				return
			}
			switch kind {
			case frameExit:
				if len(p) == 4 {
					code = int(int32(binary.BigEndian.Uint32(p)))
				}
			case frameStderr:
				_, broken = st.Stderr.Write(p)
			default:
				_, broken = st.Stdout.Write(p)
			}
			if broken != nil {
				return
			}
		}
	}()
	select {
	case <-detached:
		return 0, nil
	case <-st.Gone:
		return 0, ErrClientGone
	case <-done:
	}
	if broken != nil {
		return 0, fmt.Errorf("%w: %v", ErrClientGone, broken)
	}
	if code >= 0 {
		return code, nil
	}
	return Wait(s, c)
}

// sendSize sends the terminal's window size.
func sendSize(conn net.Conn, tty *os.File) {
	if size, err := pty.GetsizeFull(tty); err == nil {
		p := make([]byte, 4)
		binary.BigEndian.PutUint16(p, size.Rows)
		binary.BigEndian.PutUint16(p[2:], size.Cols)
		writeFrame(conn, frameResize, p)
	}
}

// Detachable tells whether a foreground container can be started by
// StartAttached: with a terminal and stdin (-it), and none of tug's own
// fds to hand it (--preserve-fds, --log-driver passthrough).
func Detachable(c *store.Container) bool {
	cfg, err := ContainerConfig(c)
	return err == nil && cfg.Spec.Tty && cfg.Interactive && cfg.LogDriver != LogPassthrough && cfg.PreserveFDs == 0
}

// sendInput forwards stdin; on a terminal, the detach keys detach.
func sendInput(conn net.Conn, in io.Reader, tty bool, keys []byte, detached chan struct{}) {
	buf := make([]byte, 4096)
	matched := 0
	for {
		n, err := in.Read(buf)
		for i := 0; tty && len(keys) > 0 && i < n; i++ {
			matched = nextMatch(keys, matched, buf[i])
			if matched == len(keys) {
				close(detached)
				return
			}
		}
		if n > 0 && writeFrame(conn, frameStdin, buf[:n]) != nil {
			return
		}
		if err == io.EOF && !tty {
			writeFrame(conn, frameEOF, nil)
		}
		if err != nil {
			return
		}
	}
}

// nextMatch is how many of keys are typed once b follows the first
// matched of them.
func nextMatch(keys []byte, matched int, b byte) int {
	if b == keys[matched] {
		return matched + 1
	}
	if b == keys[0] {
		return 1
	}
	return 0
}
