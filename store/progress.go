package store

import (
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Reporter follows the layers of an image being added to the store; the
// CLI turns it into progress bars or plain lines.
type Reporter interface {
	// Layer is called once per layer, before any work on it.
	Layer(digest v1.Hash, size int64) LayerReporter
}

// LayerReporter follows one layer.
type LayerReporter interface {
	// Add reports n more compressed bytes read.
	Add(n int)
	// Done reports the outcome: err is nil on success, and exists tells
	// that the layer was already in the store.
	Done(exists bool, err error)
}

type nopReporter struct{}

func (nopReporter) Layer(v1.Hash, int64) LayerReporter { return nopReporter{} }
func (nopReporter) Add(int)                            {}
func (nopReporter) Done(bool, error)                   {}

// countingReader reports every read to a LayerReporter.
type countingReader struct {
	r   io.Reader
	rep LayerReporter
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.rep.Add(n)
	}
	return n, err
}
