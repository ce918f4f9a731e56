package commands

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"tug/store"
)

// progress shows layer progress: live bars on a terminal, one plain line
// per layer otherwise, nothing when quiet.
type progress struct {
	out  io.Writer
	bars *mpb.Progress // nil when stdout is not a terminal
	mu   sync.Mutex    // serializes plain lines
	verb string        // "Pull complete", "Loading layer"…
}

// newProgress returns a reporter for out (stdout), or nil when quiet.
func newProgress(out *os.File, quiet bool, verb string) *progress {
	if quiet {
		return nil
	}
	p := &progress{out: out, verb: verb}
	if isTerminal(out) {
		p.bars = mpb.New(mpb.WithOutput(out), mpb.WithWidth(30))
	}
	return p
}

// reporter returns p as a store.Reporter; a nil p reports nothing.
func (p *progress) reporter() store.Reporter {
	if p == nil {
		return nil
	}
	return p
}

// wait lets the bars draw their last frame.
func (p *progress) wait() {
	if p != nil && p.bars != nil {
		p.bars.Wait()
	}
}

func short(d v1.Hash) string {
	if len(d.Hex) < 12 {
		return d.Hex
	}
	return d.Hex[:12]
}

// Layer starts following one layer.
func (p *progress) Layer(d v1.Hash, size int64) store.LayerReporter {
	l := &layerProgress{p: p, id: short(d)}
	l.status.Store("Waiting")
	if p.bars != nil {
		l.bar = p.bars.AddBar(size,
			mpb.PrependDecorators(decor.Name(l.id+": "), decor.Any(func(decor.Statistics) string { return l.status.Load().(string) }, decor.WCSyncSpaceR)),
			mpb.AppendDecorators(
				decor.Counters(decor.SizeB1024(0), "% .1f / % .1f", decor.WCSyncSpace),
				decor.AverageSpeed(decor.SizeB1024(0), "% .1f", decor.WCSyncSpace),
			),
		)
	}
	return l
}

type layerProgress struct {
	p      *progress
	id     string
	bar    *mpb.Bar
	status atomic.Value
}

// Add counts n more bytes.
func (l *layerProgress) Add(n int) {
	l.status.Store("Downloading")
	if l.bar != nil {
		l.bar.IncrBy(n)
	}
}

// Done ends the layer's line.
func (l *layerProgress) Done(exists bool, err error) {
	msg := l.p.verb
	switch {
	case err != nil:
		msg = "Failed"
	case exists:
		msg = "Already exists"
	}
	l.status.Store(msg)
	if l.bar != nil {
		if err != nil {
			l.bar.Abort(false)
		} else {
			l.bar.SetTotal(-1, true)
		}
		return
	}
	if err != nil {
		return // the error itself is reported once, by main
	}
	l.p.mu.Lock()
	defer l.p.mu.Unlock()
	fmt.Fprintf(l.p.out, "%s: %s\n", l.id, msg)
}
