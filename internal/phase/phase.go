// Package phase marks the moments of a container's start and end for
// make bench's breakdown of where a start's time goes. With TUG_PHASES
// naming a file, a Recorder appends "ROLE NAME UNIXNANOS" lines to it;
// without, Open returns nil, whose marks do nothing, and costs a getenv.
package phase

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

// Env names the file the marks go to; a process passes it on to the
// children it marks for.
const Env = "TUG_PHASES"

// Recorder appends one role's marks to the phases file.
type Recorder struct {
	f    *os.File
	role string
}

// Open is role's recorder: nil unless TUG_PHASES is set. The file is
// opened close-on-exec, so nothing that tug execs inherits it.
func Open(role string) *Recorder {
	path := os.Getenv(Env)
	if path == "" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil
	}
	return &Recorder{f: f, role: role}
}

// Mark records that name happened now.
func (r *Recorder) Mark(name string) {
	if r == nil {
		return
	}
	fmt.Fprintf(r.f, "%s %s %d\n", r.role, name, time.Now().UnixNano())
}

// Close closes the file.
func (r *Recorder) Close() {
	if r != nil {
		r.f.Close()
	}
}

// EnvFor is the TUG_PHASES setting a child process gets, or "" when
// nothing is marked.
func EnvFor() string {
	if path := os.Getenv(Env); path != "" {
		return Env + "=" + path
	}
	return ""
}

// Line is one mark read back.
type Line struct {
	Role, Name string
	At         time.Time
}

// Parse reads a phases file's line.
func Parse(line string) (Line, bool) {
	var l Line
	var nanos string
	if n, _ := fmt.Sscan(line, &l.Role, &l.Name, &nanos); n != 3 {
		return l, false
	}
	ns, err := strconv.ParseInt(nanos, 10, 64)
	if err != nil {
		return l, false
	}
	l.At = time.Unix(0, ns)
	return l, true
}
