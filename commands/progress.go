package commands

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"tug/store"
)

// progress shows layer progress: live bars on a terminal, one plain line
// per layer otherwise, nothing when quiet.
type progress struct {
	out   io.Writer
	bars  *mpb.Progress // nil when stdout is not a terminal
	mu    sync.Mutex    // serializes plain lines
	verb  string        // "Pull complete", "Loaded"…
	start time.Time
	bytes atomic.Int64 // read so far, all layers
	fresh atomic.Int32 // layers fetched, not found in the store
	all   atomic.Int32 // layers seen
}

// newProgress returns a reporter for out (stderr: progress is not a
// command's output), or nil when quiet.
func newProgress(out *os.File, quiet bool, verb string) *progress {
	if quiet {
		return nil
	}
	p := &progress{out: out, verb: verb, start: time.Now()}
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

// wait lets the bars draw their last frame, then prints a summary line
// under them.
func (p *progress) wait() {
	if p == nil || p.bars == nil {
		return
	}
	p.bars.Wait()
	secs := time.Since(p.start).Seconds()
	fmt.Fprintf(p.out, "%d layers, %d new: %.1f MiB in %.1fs (%.1f MiB/s)\n", p.all.Load(), p.fresh.Load(),
		float64(p.bytes.Load())/(1<<20), secs, float64(p.bytes.Load())/(1<<20)/secs)
}

func short(d v1.Hash) string {
	if len(d.Hex) < 12 {
		return d.Hex
	}
	return d.Hex[:12]
}

// Layer starts following one layer.
func (p *progress) Layer(d v1.Hash, size int64) store.LayerReporter {
	p.all.Add(1)
	l := &layerProgress{p: p, id: short(d), size: size}
	l.status.Store("Waiting")
	if p.bars != nil {
		// Total 0 then SetTotal: the bar must not complete by itself when
		// the bytes are in, only when Done has set the final status.
		l.bar = p.bars.AddBar(0,
			mpb.PrependDecorators(decor.Name(l.id+": "), decor.Any(func(decor.Statistics) string { return l.status.Load().(string) }, decor.WCSyncSpaceR)),
			mpb.AppendDecorators(
				decor.Counters(decor.SizeB1024(0), "% .1f / % .1f", decor.WCSyncSpace),
				decor.AverageSpeed(decor.SizeB1024(0), "% .1f", decor.WCSyncSpace),
			),
		)
		l.bar.SetTotal(size, false)
	}
	return l
}

type layerProgress struct {
	p      *progress
	id     string
	size   int64
	bar    *mpb.Bar
	status atomic.Value
}

// Add counts n more bytes.
func (l *layerProgress) Add(n int) {
	l.status.Store("Downloading")
	l.p.bytes.Add(int64(n))
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
	default:
		l.p.fresh.Add(1)
	}
	l.status.Store(msg)
	if l.bar != nil {
		switch {
		case err != nil:
			l.bar.Abort(false)
		case exists:
			l.bar.SetCurrent(l.size)
			l.bar.SetTotal(l.size, true)
		default:
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
