package store

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"tug/store/archive"
)

// entries gives a sink two files, the second with content.
func entries(content string) func(archive.Sink) error {
	return func(sink archive.Sink) error {
		for _, e := range []struct{ name, body string }{{"etc/a", "a"}, {"etc/b", content}} {
			hdr := &tar.Header{Name: e.name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(e.body)), Format: tar.FormatPAX}
			if err := sink.Entry(hdr, strings.NewReader(e.body)); err != nil {
				return err
			}
		}
		return nil
	}
}

// TestCreateLayer: the blob is the tar whose digest the layer has, the
// unpacked layer is recorded under the chain ID on the parent, and the
// same entries again find both there.
func TestCreateLayer(t *testing.T) {
	s := testStore(t)
	parent := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)}
	l, err := s.CreateLayer(parent, entries("bee"))
	if err != nil {
		t.Fatal(err)
	}
	digest, _ := l.Digest()
	blob, err := os.ReadFile(s.BlobPath(digest))
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(blob); hex.EncodeToString(sum[:]) != digest.Hex {
		t.Errorf("blob has digest %x, the layer says %s", sum, digest)
	}
	if size, _ := l.Size(); size != int64(len(blob)) {
		t.Errorf("size %d, blob %d", size, len(blob))
	}
	tr := tar.NewReader(bytes.NewReader(blob))
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
	if strings.Join(names, " ") != "etc/a etc/b" {
		t.Errorf("blob holds %v", names)
	}
	chain := ChainIDs([]v1.Hash{parent, digest})[1]
	rec, err := s.Layer(chain)
	if err != nil {
		t.Fatal(err)
	}
	if rec.DiffID != digest || rec.Parent != parent.String() || rec.Size != 4 {
		t.Errorf("record %+v", rec)
	}
	if b, err := os.ReadFile(filepath.Join(s.LayerDiff(chain), "etc", "b")); err != nil || string(b) != "bee" {
		t.Errorf("unpacked etc/b: %q, %v", b, err)
	}
	again, err := s.CreateLayer(parent, entries("bee"))
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := again.Digest(); d != digest {
		t.Errorf("the same entries gave %s, then %s", digest, d)
	}
	if n := countDir(t, filepath.Join(s.root, "tmp")); n != 0 {
		t.Errorf("%d scratch dirs left", n)
	}
}

// TestCreateLayerFails: a fill that fails leaves no blob, no layer and
// no scratch dir behind.
func TestCreateLayerFails(t *testing.T) {
	s := testStore(t)
	boom := errors.New("boom")
	_, err := s.CreateLayer(v1.Hash{}, func(sink archive.Sink) error {
		if err := entries("x")(sink); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("got %v, want boom", err)
	}
	for _, d := range []string{"tmp", "layers", filepath.Join("blobs", "sha256")} {
		entries, _ := os.ReadDir(filepath.Join(s.root, d))
		for _, e := range entries {
			if !strings.HasPrefix(e.Name(), ".") {
				t.Errorf("%s/%s left behind", d, e.Name())
			}
		}
	}
}
