package store

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"

	"tug/store/archive"
)

// LayerRecord describes an unpacked layer.
type LayerRecord struct {
	ChainID v1.Hash   `json:"chain_id"`
	DiffID  v1.Hash   `json:"diff_id"`
	Parent  string    `json:"parent,omitempty"`
	Size    int64     `json:"size"`
	Created time.Time `json:"created"`
}

// ChainIDs computes the chain ID of each layer from the diff IDs:
// the first is its diff ID, each next is sha256(parent + " " + diffID).
func ChainIDs(diffIDs []v1.Hash) []v1.Hash {
	out := make([]v1.Hash, len(diffIDs))
	for i, d := range diffIDs {
		if i == 0 {
			out[i] = d
			continue
		}
		sum := sha256.Sum256([]byte(out[i-1].String() + " " + d.String()))
		out[i] = v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
	}
	return out
}

func (s *Store) layerPath(chain v1.Hash) string {
	return filepath.Join(s.root, "layers", chain.Hex)
}

// LayerDiff returns the unpacked directory of a layer, an overlayfs lower.
func (s *Store) LayerDiff(chain v1.Hash) string {
	return filepath.Join(s.layerPath(chain), "diff")
}

// Layer returns the record of an unpacked layer.
func (s *Store) Layer(chain v1.Hash) (*LayerRecord, error) {
	b, err := os.ReadFile(filepath.Join(s.layerPath(chain), "layer.json"))
	if os.IsNotExist(err) {
		return nil, fmt.Errorf("layer %s: %w", chain, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read layer %s: %w", chain, err)
	}
	var rec LayerRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("layer %s: corrupt record: %w", chain, err)
	}
	return &rec, nil
}

func (s *Store) hasLayer(chain v1.Hash) bool {
	_, err := os.Stat(filepath.Join(s.layerPath(chain), "layer.json"))
	return err == nil
}

// layerSource is a layer to bring into the store.
type layerSource struct {
	digest  v1.Hash // of the compressed blob
	size    int64   // of the compressed blob, -1 when unknown
	diffID  v1.Hash // of the uncompressed tar, from the image config
	chainID v1.Hash
	parent  v1.Hash
	open    func() (io.ReadCloser, error)
}

// ensureLayer makes sure both the blob and the unpacked layer are in the
// store. It holds the layer's lock while it works, so two processes never
// fetch the same layer twice: the second waits and then finds it there.
func (s *Store) ensureLayer(src layerSource, rep LayerReporter) error {
	if s.hasLayer(src.chainID) && s.HasBlob(src.digest) {
		rep.Done(true, nil)
		return nil
	}
	lock, err := lockPath(s.lockFile("layer-" + src.chainID.Hex))
	if err != nil {
		return err
	}
	defer lock.Unlock()
	haveLayer, haveBlob := s.hasLayer(src.chainID), s.HasBlob(src.digest)
	if haveLayer && haveBlob {
		rep.Done(true, nil)
		return nil
	}
	err = s.fetchLayer(src, rep, haveLayer, haveBlob)
	rep.Done(false, err)
	return err
}

// fetchLayer streams the compressed blob through its digest check, into
// the blob store (unless there already) and through decompression and the
// diff ID check into a staging dir (unless the layer is there already).
// Nothing becomes visible before every check has passed.
func (s *Store) fetchLayer(src layerSource, rep LayerReporter, haveLayer, haveBlob bool) error {
	var rc io.ReadCloser
	var err error
	if haveBlob {
		rc, err = os.Open(s.BlobPath(src.digest))
	} else {
		rc, err = src.open()
	}
	if err != nil {
		return fmt.Errorf("fetch layer %s: %w", src.digest, err)
	}
	defer rc.Close()
	tmpName := src.chainID.Hex
	if haveBlob {
		tmpName = ""
	}
	bw, err := s.newBlobWriter(src.digest, tmpName)
	if err != nil {
		return err
	}
	defer bw.discard()
	staging := filepath.Join(s.root, "layers", ".staging", src.chainID.Hex)
	defer os.RemoveAll(staging)
	compressed := io.TeeReader(countingReader{rc, rep}, bw)
	size, err := s.unpackStream(compressed, src, staging, !haveLayer)
	if err != nil {
		// A corrupt download shows up as a broken stream first; name
		// the root cause when the digest says so.
		if _, cerr := io.Copy(io.Discard, io.LimitReader(compressed, max(src.size-bw.n, 0)+1)); cerr != nil {
			return fmt.Errorf("layer %s: %w", src.digest, cerr)
		}
		if verr := bw.verify(src.size); verr != nil {
			return verr
		}
		return fmt.Errorf("layer %s: %w", src.digest, err)
	}
	if err := bw.verify(src.size); err != nil {
		return err
	}
	if haveLayer {
		return bw.commit(true)
	}
	// One syncfs makes both the unpacked layer and the temp blob (on the
	// same filesystem) durable: cheaper than an fsync per file.
	if err := syncFS(staging); err != nil {
		return err
	}
	if err := bw.commit(false); err != nil {
		return err
	}
	return s.commitLayer(src, staging, size)
}

// unpackStream decompresses compressed, checks its diff ID and, with
// unpack set, unpacks it into staging/diff. It reads compressed to EOF so
// that the caller's digest covers every byte, trailing junk included.
func (s *Store) unpackStream(compressed io.Reader, src layerSource, staging string, unpack bool) (int64, error) {
	if err := os.RemoveAll(staging); err != nil {
		return 0, fmt.Errorf("clear stale staging: %w", err)
	}
	dec, err := Decompress(compressed)
	if err != nil {
		return 0, err
	}
	defer dec.Close()
	diff := sha256.New()
	tar := io.TeeReader(dec, diff)
	var size int64
	if unpack {
		if err := os.MkdirAll(filepath.Join(staging, "diff"), 0o755); err != nil {
			return 0, fmt.Errorf("make staging dir: %w", err)
		}
		if size, err = archive.Apply(filepath.Join(staging, "diff"), tar, s.unpack); err != nil {
			return 0, err
		}
	}
	if _, err := io.Copy(io.Discard, tar); err != nil {
		return 0, fmt.Errorf("decompress: %w", err)
	}
	if _, err := io.Copy(io.Discard, compressed); err != nil {
		return 0, fmt.Errorf("read: %w", err)
	}
	if got := "sha256:" + hex.EncodeToString(diff.Sum(nil)); got != src.diffID.String() {
		return 0, fmt.Errorf("uncompressed content has digest %s, but the image config says %s", got, src.diffID)
	}
	return size, nil
}

// Decompress reads r as gzip or zstd, by its magic bytes, or as it is
// when it has neither: layers, and tug build's ADD archives.
func Decompress(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	magic, err := br.Peek(4)
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("read: %w", err)
	}
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return zr, nil
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(1<<30))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		return zr.IOReadCloser(), nil
	default:
		return io.NopCloser(br), nil
	}
}

// commitLayer makes a staged layer, already synced, visible with one
// rename. A crash before the rename leaves only staging, which the next
// holder of the layer lock clears.
func (s *Store) commitLayer(src layerSource, staging string, size int64) error {
	rec := LayerRecord{ChainID: src.chainID, DiffID: src.diffID, Size: size, Created: time.Now().UTC()}
	if src.parent != (v1.Hash{}) {
		rec.Parent = src.parent.String()
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if err := WriteFileAtomic(filepath.Join(staging, "layer.json"), b, 0o600); err != nil {
		return err
	}
	if err := os.Rename(staging, s.layerPath(src.chainID)); err != nil {
		return fmt.Errorf("commit layer %s: %w", src.chainID, err)
	}
	return syncDir(filepath.Join(s.root, "layers"))
}

// syncFS flushes the filesystem holding dir: one syscall makes a whole
// unpacked layer durable, where an fsync per file would cost thousands.
func syncFS(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer unix.Close(fd)
	if err := unix.Syncfs(fd); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// removeLayer deletes an unpacked layer: a rename into staging makes it
// vanish at once, then the tree is removed.
func (s *Store) removeLayer(chain v1.Hash) error {
	lock, err := lockPath(s.lockFile("layer-" + chain.Hex))
	if err != nil {
		return err
	}
	defer lock.Unlock()
	staging := filepath.Join(s.root, "layers", ".staging", chain.Hex)
	if err := os.RemoveAll(staging); err != nil {
		return fmt.Errorf("remove layer %s: %w", chain, err)
	}
	if err := os.Rename(s.layerPath(chain), staging); err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return fmt.Errorf("remove layer %s: %w", chain, err)
	}
	if err := os.RemoveAll(staging); err != nil {
		return fmt.Errorf("remove layer %s: %w", chain, err)
	}
	return nil
}

// CleanStaging removes staging dirs and temp blobs left by killed
// processes. Both are named by chain ID and guarded by that layer's lock,
// so one whose lock can be taken has no live owner.
func (s *Store) CleanStaging() error {
	dir := filepath.Join(s.root, "layers", ".staging")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("clean staging: %w", err)
	}
	blobs, err := os.ReadDir(filepath.Join(s.root, "blobs", ".tmp"))
	if err != nil {
		return fmt.Errorf("clean staging: %w", err)
	}
	for _, e := range append(entries, blobs...) {
		lock, err := tryLockPath(s.lockFile("layer-" + e.Name()))
		if err != nil || lock == nil {
			continue
		}
		os.RemoveAll(filepath.Join(dir, e.Name()))
		os.Remove(filepath.Join(s.root, "blobs", ".tmp", e.Name()))
		lock.Unlock()
	}
	return nil
}

// Flatten copies the diff dirs of layers (bottom first, relative to the
// layer dir) into dst, applying whiteouts and opaque directories: one
// tree with the image's files, for the copy storage driver. The copy
// goes through the same checked writer and unpacker as pulls.
func (s *Store) Flatten(layers []string, dst string) error {
	opt := s.unpack
	opt.Flatten = true
	for _, l := range layers {
		dir, err := unix.Open(filepath.Join(s.root, "layers", l), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("layer %s: %w", l, err)
		}
		pr, pw := io.Pipe()
		wrote := make(chan error, 1)
		go func() {
			err := archive.Write(dir, ".", pw, archive.WriteOptions{OverlayWhiteouts: true, OpaqueXattr: opt.OpaqueXattr})
			pw.CloseWithError(err)
			wrote <- err
		}()
		_, err = archive.Apply(dst, pr, opt)
		io.Copy(io.Discard, pr) // the end of the stream
		werr := <-wrote
		unix.Close(dir)
		if err = errors.Join(err, werr); err != nil {
			return fmt.Errorf("copy layer %s: %w", l, err)
		}
	}
	return nil
}
