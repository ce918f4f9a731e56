package archive

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
)

// Sink takes a tree's entries one at a time, each header with the
// content of a regular file read from r: a tar stream (TarSink), an
// unpacked directory (Unpacker), or both at once (Tee).
type Sink interface {
	Entry(hdr *tar.Header, r io.Reader) error
}

// SinkFunc is a function taking entries, as a Sink.
type SinkFunc func(hdr *tar.Header, r io.Reader) error

// Entry calls f.
func (f SinkFunc) Entry(hdr *tar.Header, r io.Reader) error { return f(hdr, r) }

// TarSink writes entries as a tar stream.
type TarSink struct {
	tw  *tar.Writer
	buf []byte
}

// NewTarSink writes a tar to w; Close writes its end.
func NewTarSink(w io.Writer) *TarSink {
	return &TarSink{tw: tar.NewWriter(w)}
}

// Entry writes hdr and the content r holds.
func (t *TarSink) Entry(hdr *tar.Header, r io.Reader) error {
	if err := t.tw.WriteHeader(hdr); err != nil {
		return err
	}
	if r == nil {
		return nil
	}
	if t.buf == nil {
		t.buf = make([]byte, 256<<10)
	}
	_, err := io.CopyBuffer(t.tw, r, t.buf)
	return err
}

// Close writes the tar's end marker (it does not close the writer).
func (t *TarSink) Close() error { return t.tw.Close() }

// Unpacker unpacks entries into a directory, as Apply does a stream.
type Unpacker struct {
	a *applier
}

// NewUnpacker unpacks into dir with opt; Close finishes the job.
func NewUnpacker(dir string, opt Options) (*Unpacker, error) {
	if opt.OpaqueXattr == "" {
		opt.OpaqueXattr = "trusted.overlay.opaque"
	}
	rt, err := openRoot(dir)
	if err != nil {
		return nil, err
	}
	return &Unpacker{a: &applier{r: rt, opt: opt, buf: make([]byte, 256<<10)}}, nil
}

// Entry unpacks one entry, its content read from r (nil: none).
func (u *Unpacker) Entry(hdr *tar.Header, r io.Reader) error {
	if r == nil {
		r = bytes.NewReader(nil)
	}
	if err := u.a.entry(hdr, r); err != nil {
		return fmt.Errorf("entry %q: %w", hdr.Name, err)
	}
	return nil
}

// Written is the bytes of file content unpacked so far.
func (u *Unpacker) Written() int64 { return u.a.written }

// Close sets the directories' times, which their entries changed, and
// releases the directory.
func (u *Unpacker) Close() error {
	defer u.a.r.close()
	return u.a.finishDirs()
}

// Tee is a sink that writes each entry to a tar and unpacks it, reading
// each file's content once for both.
func Tee(t *TarSink, u *Unpacker) Sink { return tee{t, u} }

type tee struct {
	t *TarSink
	u *Unpacker
}

func (s tee) Entry(hdr *tar.Header, r io.Reader) error {
	if err := s.t.tw.WriteHeader(hdr); err != nil {
		return err
	}
	var tr io.Reader
	if r != nil {
		tr = io.TeeReader(r, s.t.tw)
	}
	if err := s.u.Entry(hdr, tr); err != nil {
		return err
	}
	if tr == nil {
		return nil
	}
	_, err := io.Copy(s.t.tw, r) // what the unpacker left unread
	return err
}
