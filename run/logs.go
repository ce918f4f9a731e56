package run

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"tug/store"
)

// Logs are kept by default in podman's k8s-file format, one line per
// output line:
//
//	2024-01-02T03:04:05.123456789Z stdout F hello
//
// with the stream, and F for a full line or P for part of a longer one;
// with --log-driver json-file, in docker's, one JSON object per line:
//
//	{"log":"hello\n","stream":"stdout","time":"2024-01-02T03:04:05.123456789Z"}
//
// where a part of a longer line has no newline. At maxSize the file is
// renamed to .1 (replacing the older one) and a new one begun. The none
// driver keeps no log; passthrough hands the container tug's own stdio,
// in the foreground only.

// The log drivers.
const (
	LogK8sFile     = "k8s-file"
	LogJSONFile    = "json-file"
	LogNone        = "none"
	LogPassthrough = "passthrough"
)

// parseLogDriver checks --log-driver; k8s-file is recorded as "".
func parseLogDriver(d string, tty bool) (string, error) {
	switch d {
	case "", LogK8sFile:
		return "", nil
	case LogPassthrough:
		if tty {
			return "", errors.New("--log-driver passthrough hands over tug's own stdio: it does not go with -t")
		}
		return d, nil
	case LogJSONFile, LogNone:
		return d, nil
	}
	return "", fmt.Errorf("--log-driver %q: want k8s-file, json-file, none or passthrough", d)
}

// logDriverName is the driver's name, as inspect shows it.
func logDriverName(d string) string { return cmp.Or(d, LogK8sFile) }

const maxLogLine = 16 << 10

// logFile is a container's log, shared by its streams.
type logFile struct {
	mu      sync.Mutex
	path    string
	f       *os.File
	size    int64
	maxSize int64 // 0: no rotation
	json    bool  // docker's json-file format
}

// openLog opens the container's log for appending; nil, with no error,
// for the drivers that keep none.
func openLog(path string, cfg *Config) (*logFile, error) {
	if cfg.LogDriver == LogNone || cfg.LogDriver == LogPassthrough {
		return nil, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open log: %w", err)
	}
	return &logFile{path: path, f: f, size: fi.Size(), maxSize: cfg.LogMaxSize, json: cfg.LogDriver == LogJSONFile}, nil
}

// jsonLine is one line of docker's json-file log.
type jsonLine struct {
	Log    string `json:"log"`
	Stream string `json:"stream"`
	Time   string `json:"time"`
}

// format makes one log line of content.
func (l *logFile) format(stream, tag string, content []byte) []byte {
	now := time.Now().UTC()
	if l.json {
		text := string(content)
		if tag == "F" {
			text += "\n"
		}
		b, _ := json.Marshal(jsonLine{Log: text, Stream: stream, Time: now.Format(time.RFC3339Nano)})
		return append(b, '\n')
	}
	line := make([]byte, 0, len(content)+48)
	line = now.AppendFormat(line, time.RFC3339Nano)
	line = append(line, ' ')
	line = append(line, stream...)
	line = append(line, ' ')
	line = append(line, tag...)
	line = append(line, ' ')
	line = append(line, content...)
	return append(line, '\n')
}

func (l *logFile) writeLine(stream, tag string, content []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	line := l.format(stream, tag, content)
	if l.maxSize > 0 && l.size+int64(len(line)) > l.maxSize && l.size > 0 {
		l.rotate()
	}
	n, _ := l.f.Write(line)
	l.size += int64(n)
}

// rotate keeps one old file, as docker's max-file=1 … 2 would.
func (l *logFile) rotate() {
	if err := os.Rename(l.path, l.path+".1"); err != nil {
		return
	}
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return
	}
	l.f.Close()
	l.f, l.size = f, 0
}

// Close closes the log; a nil one (no log kept) is fine.
func (l *logFile) Close() error {
	if l == nil {
		return nil
	}
	return l.f.Close()
}

// stream returns a writer that logs what it gets as lines of stream.
func (l *logFile) stream(name string) *lineWriter {
	return &lineWriter{log: l, stream: name}
}

// lineWriter cuts a stream into log lines.
type lineWriter struct {
	log     *logFile
	stream  string
	pending []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.pending = append(w.pending, p...)
			for len(w.pending) >= maxLogLine {
				w.log.writeLine(w.stream, "P", w.pending[:maxLogLine])
				w.pending = append(w.pending[:0], w.pending[maxLogLine:]...)
			}
			break
		}
		line := p[:i]
		if len(w.pending) > 0 {
			line = append(w.pending, line...)
			w.pending = w.pending[:0]
		}
		w.log.writeLine(w.stream, "F", line)
		p = p[i+1:]
	}
	return n, nil
}

// flush logs a last line that had no newline.
func (w *lineWriter) flush() {
	if len(w.pending) > 0 {
		w.log.writeLine(w.stream, "F", w.pending)
		w.pending = nil
	}
}

// LogEntry is one parsed log line.
type LogEntry struct {
	Time    time.Time
	Stream  string // stdout or stderr
	Partial bool
	Content string
}

// lineParser reads the lines a log driver writes.
func lineParser(driver string) func(string) (LogEntry, error) {
	if driver == LogJSONFile {
		return parseJSONLine
	}
	return parseLogLine
}

// parseJSONLine reads one json-file line.
func parseJSONLine(line string) (LogEntry, error) {
	var j jsonLine
	if err := json.Unmarshal([]byte(line), &j); err != nil {
		return LogEntry{}, err
	}
	t, err := time.Parse(time.RFC3339Nano, j.Time)
	if err != nil {
		return LogEntry{}, err
	}
	content, full := strings.CutSuffix(j.Log, "\n")
	return LogEntry{Time: t, Stream: j.Stream, Partial: !full, Content: content}, nil
}

// parseLogLine reads one k8s-file line.
func parseLogLine(line string) (LogEntry, error) {
	parts := strings.SplitN(line, " ", 4)
	if len(parts) < 3 {
		return LogEntry{}, errors.New("malformed log line")
	}
	t, err := time.Parse(time.RFC3339Nano, parts[0])
	if err != nil {
		return LogEntry{}, err
	}
	e := LogEntry{Time: t, Stream: parts[1], Partial: parts[2] == "P"}
	if len(parts) == 4 {
		e.Content = parts[3]
	}
	return e, nil
}

// LogOptions select and shape log output.
type LogOptions struct {
	Follow     bool
	Tail       int // lines from the end; negative means all
	Timestamps bool
	Since      time.Time
	Until      time.Time // zero: no end
	// Details puts the labels and environment variables --log-opt
	// named before each line, as docker's logs --details does.
	Details bool
	details string // the prefix Details makes
}

// shows tells whether the entry's time is within --since and --until.
func (opt LogOptions) shows(e LogEntry) bool {
	return !e.Time.Before(opt.Since) && (opt.Until.IsZero() || !e.Time.After(opt.Until))
}

// readLogLines returns the parsed lines of the rotated and current files.
func readLogLines(path string, parse func(string) (LogEntry, error)) ([]LogEntry, int64, error) {
	var out []LogEntry
	var offset int64
	for _, p := range []string{path + ".1", path} {
		f, err := os.Open(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, 0, err
		}
		r := bufio.NewReaderSize(f, 64<<10)
		offset = 0
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				break // a partial last line is read again when complete
			}
			offset += int64(len(line))
			if e, perr := parse(strings.TrimSuffix(line, "\n")); perr == nil {
				out = append(out, e)
			}
		}
		f.Close()
	}
	return out, offset, nil
}

// writeEntry prints an entry to the stream it came from, in one write:
// one frame of the API's multiplexed stream a line, as docker's.
func writeEntry(stdout, stderr io.Writer, e LogEntry, opt LogOptions) {
	w := stdout
	if e.Stream == "stderr" {
		w = stderr
	}
	b := make([]byte, 0, len(e.Content)+64)
	if opt.Timestamps {
		b = append(e.Time.AppendFormat(b, time.RFC3339Nano), ' ')
	}
	if opt.Details {
		b = append(append(b, opt.details...), ' ')
	}
	b = append(b, e.Content...)
	if !e.Partial {
		b = append(b, '\n')
	}
	w.Write(b)
}

// detailsPrefix is docker's form of the details: key=value pairs,
// query-escaped, sorted by key, comma-separated.
func detailsPrefix(attrs map[string]string) string {
	pairs := make([]string, 0, len(attrs))
	for _, k := range slices.Sorted(maps.Keys(attrs)) {
		pairs = append(pairs, url.QueryEscape(k)+"="+url.QueryEscape(attrs[k]))
	}
	return strings.Join(pairs, ",")
}

// Logs writes a container's log to stdout and stderr, by stream. With
// Follow it keeps reading as lines come until the container stops.
func Logs(s *store.Store, c *store.Container, opt LogOptions, stdout, stderr io.Writer) error {
	cfg, err := ContainerConfig(c)
	if err != nil {
		return err
	}
	if cfg.LogDriver == LogNone || cfg.LogDriver == LogPassthrough {
		return conflict("logs of %s: its log driver, %s, keeps no logs to read", c.Name, cfg.LogDriver)
	}
	if opt.Details {
		opt.details = detailsPrefix(logAttrs(cfg.LogOpts, c.Labels, cfg.Spec.Env))
	}
	parse := lineParser(cfg.LogDriver)
	path := LogPath(s, c)
	entries, offset, err := readLogLines(path, parse)
	if err != nil {
		return fmt.Errorf("logs of %s: %w", c.Name, err)
	}
	entries = slices.DeleteFunc(entries, func(e LogEntry) bool { return !opt.shows(e) })
	if opt.Tail >= 0 && len(entries) > opt.Tail {
		entries = entries[len(entries)-opt.Tail:]
	}
	for _, e := range entries {
		writeEntry(stdout, stderr, e, opt)
	}
	if !opt.Follow {
		return nil
	}
	return follow(s, c, path, offset, parse, opt, stdout, stderr)
}

// follow reads new lines from offset on, as tail -F does (a rotation
// starts the new file from its beginning), until the container is not
// running and everything it wrote has been read.
func follow(s *store.Store, c *store.Container, path string, offset int64, parse func(string) (LogEntry, error), opt LogOptions, stdout, stderr io.Writer) error {
	var pending string
	var ino uint64
	for {
		f, err := os.Open(path)
		if err == nil {
			var st unix.Stat_t
			if unix.Fstat(int(f.Fd()), &st) == nil && ino != 0 && st.Ino != ino {
				offset = 0 // rotated
			}
			ino = st.Ino
			f.Seek(offset, io.SeekStart)
			b, _ := io.ReadAll(f)
			f.Close()
			offset += int64(len(b))
			pending += string(b)
			for {
				i := strings.IndexByte(pending, '\n')
				if i < 0 {
					break
				}
				if e, perr := parse(pending[:i]); perr == nil && opt.shows(e) {
					writeEntry(stdout, stderr, e, opt)
				}
				pending = pending[i+1:]
			}
		}
		if !opt.Until.IsZero() && time.Now().After(opt.Until) {
			return nil // past --until: nothing more to show
		}
		st, err := State(s, c)
		if err != nil {
			return nil // removed: nothing more will come
		}
		if st.Status != store.StatusRunning {
			if fi, err := os.Stat(path); err != nil || fi.Size() <= offset {
				return nil
			}
			continue // read what came before the end
		}
		time.Sleep(100 * time.Millisecond)
	}
}
