package pull

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"tug/internal/fixture"
	"tug/store"
)

// testRegistry is go-containerregistry's in-process registry behind a
// hook that can tamper with blob responses and counts blob fetches.
type testRegistry struct {
	host    string
	tamper  atomic.Value // func(path string, body []byte) []byte
	fetches sync.Map     // blob path → *atomic.Int32
}

func newTestRegistry(t *testing.T) *testRegistry {
	r := &testRegistry{}
	r.tamper.Store(func(_ string, b []byte) []byte { return b })
	inner := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet || !strings.Contains(req.URL.Path, "/blobs/") {
			inner.ServeHTTP(w, req)
			return
		}
		n, _ := r.fetches.LoadOrStore(req.URL.Path, new(atomic.Int32))
		n.(*atomic.Int32).Add(1)
		rec := httptest.NewRecorder()
		inner.ServeHTTP(rec, req)
		body := r.tamper.Load().(func(string, []byte) []byte)(req.URL.Path, rec.Body.Bytes())
		for k, v := range rec.Header() {
			if k != "Content-Length" {
				w.Header()[k] = v
			}
		}
		w.WriteHeader(rec.Code)
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	r.host = strings.TrimPrefix(srv.URL, "http://")
	return r
}

func (r *testRegistry) push(t *testing.T, repo string, img v1.Image) string {
	t.Helper()
	ref := r.host + "/" + repo
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	return ref
}

func (r *testRegistry) blobFetches(d v1.Hash) int {
	total := 0
	r.fetches.Range(func(k, v any) bool {
		if strings.HasSuffix(k.(string), d.String()) {
			total += int(v.(*atomic.Int32).Load())
		}
		return true
	})
	return total
}

func openStore(t *testing.T) *store.Store {
	t.Helper()
	dir := t.TempDir()
	s, err := store.Open(filepath.Join(dir, "root"), filepath.Join(dir, "run"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func twoLayerImage(t *testing.T) v1.Image {
	return fixture.Image([]v1.Layer{
		fixture.Layer(fixture.Tar([]fixture.Entry{{Name: "a", Body: strings.Repeat("a", 10000)}}), fixture.Gzip),
		fixture.Layer(fixture.Tar([]fixture.Entry{{Name: "b", Body: "b"}, {Name: ".wh.a"}}), fixture.Zstd),
	}, []string{"sh"}, v1.Platform{})
}

// assertClean fails if anything but finished blobs and layers is left.
func assertClean(t *testing.T, s *store.Store) {
	t.Helper()
	for _, d := range []string{"layers/.staging", "blobs/.tmp"} {
		entries, _ := os.ReadDir(filepath.Join(s.Root(), d))
		if len(entries) > 0 {
			t.Errorf("%s not empty: %d entries", d, len(entries))
		}
	}
}

func TestPullUnpacks(t *testing.T) {
	r := newTestRegistry(t)
	ref := r.push(t, "lib/two:1", twoLayerImage(t))
	s := openStore(t)
	img, err := Pull(context.Background(), s, ref, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(img.Layers) != 2 {
		t.Fatalf("%d layers", len(img.Layers))
	}
	b, err := os.ReadFile(filepath.Join(s.LayerDiff(img.Layers[1]), "b"))
	if err != nil || string(b) != "b" {
		t.Errorf("top layer file: %q %v", b, err)
	}
	if got, err := s.LookupImage(ref); err != nil || got.ID != img.ID {
		t.Errorf("lookup by name: %v", err)
	}
	if got, err := s.LookupImage(img.ID.Hex[:5]); err != nil || got.ID != img.ID {
		t.Errorf("lookup by short ID: %v", err)
	}
	if img.Size != 10001 {
		t.Errorf("size %d", img.Size)
	}
	assertClean(t, s)
}

func TestPullByDigest(t *testing.T) {
	r := newTestRegistry(t)
	img := twoLayerImage(t)
	ref := r.push(t, "lib/two:1", img)
	d, _ := img.Digest()
	s := openStore(t)
	byDigest := strings.TrimSuffix(ref, ":1") + "@" + d.String()
	got, err := Pull(context.Background(), s, byDigest, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Names) != 0 || len(got.Digests) != 1 || got.Digests[0] != byDigest {
		t.Errorf("names %v digests %v", got.Names, got.Digests)
	}
	if _, err := s.LookupImage(byDigest); err != nil {
		t.Errorf("lookup by digest: %v", err)
	}
}

// TestPullRejects serves broken blobs and manifests: each pull must fail
// and leave nothing visible: no image, no layer, no blob, no staging.
func TestPullRejects(t *testing.T) {
	layer := fixture.Layer(fixture.Tar([]fixture.Entry{{Name: "f", Body: strings.Repeat("x", 5000)}}), fixture.Gzip)
	good := fixture.Image([]v1.Layer{layer}, nil, v1.Platform{})
	ld, _ := layer.Digest()
	flip := func(b []byte) []byte { c := bytes.Clone(b); c[len(c)/2] ^= 0xff; return c }
	cases := map[string]struct {
		img    v1.Image
		tamper func(path string, b []byte) []byte
		want   string
	}{
		"flipped byte": {img: good, want: "checksum", tamper: func(p string, b []byte) []byte {
			if strings.HasSuffix(p, ld.String()) {
				return flip(b)
			}
			return b
		}},
		"truncated blob": {img: good, want: "", tamper: func(p string, b []byte) []byte {
			if strings.HasSuffix(p, ld.String()) {
				return b[:len(b)/2]
			}
			return b
		}},
		"trailing junk": {img: good, want: "", tamper: func(p string, b []byte) []byte {
			if strings.HasSuffix(p, ld.String()) {
				return append(bytes.Clone(b), "junk"...)
			}
			return b
		}},
		"diff id mismatch": {img: wrongDiffID(t, layer), want: "uncompressed content has digest"},
		"garbage layer":    {img: fixture.Image([]v1.Layer{fixture.RawLayer([]byte("this is not a tar at all, not even close, not at all, no, definitely garbage........................................................................................................................................................................................................................................................................................................................................................................................................................................................................................................................................................................"), types.DockerLayer)}, nil, v1.Platform{}), want: "tar"},
	}
	for n, c := range cases {
		t.Run(n, func(t *testing.T) {
			r := newTestRegistry(t)
			ref := r.push(t, "lib/bad:1", c.img)
			if c.tamper != nil {
				r.tamper.Store(c.tamper)
			}
			s := openStore(t)
			_, err := Pull(context.Background(), s, ref, Options{})
			if err == nil {
				t.Fatal("pull succeeded")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not mention %q", err, c.want)
			}
			imgs, _ := s.Images()
			layers, _ := os.ReadDir(filepath.Join(s.Root(), "layers"))
			blobs, _ := os.ReadDir(filepath.Join(s.Root(), "blobs", "sha256"))
			if len(imgs) != 0 || len(layers) != 1 || len(blobs) != 0 {
				t.Errorf("left behind: %d images, %d layer entries, %d blobs", len(imgs), len(layers)-1, len(blobs))
			}
			assertClean(t, s)
		})
	}
}

// rawImage is an image given as raw manifest and config, with layers
// looked up by digest, for manifests that lie.
type rawImage struct {
	manifest, config []byte
	layers           []v1.Layer
}

func (i *rawImage) RawManifest() ([]byte, error) { return i.manifest, nil }

func pushRaw(t *testing.T, r *testRegistry, repo string, ri *rawImage) string {
	t.Helper()
	ref := r.host + "/" + repo
	tag, _ := name.NewTag(ref)
	for _, l := range ri.layers {
		if err := remote.WriteLayer(tag.Context(), l); err != nil {
			t.Fatal(err)
		}
	}
	cfgLayer := fixture.RawLayer(ri.config, types.DockerConfigJSON)
	if err := remote.WriteLayer(tag.Context(), cfgLayer); err != nil {
		t.Fatal(err)
	}
	if err := remote.Put(tag, ri); err != nil {
		t.Fatal(err)
	}
	return ref
}

func TestPullRejectsLyingManifests(t *testing.T) {
	layer := fixture.Layer(fixture.Tar([]fixture.Entry{{Name: "f", Body: "x"}}), fixture.Gzip)
	good := fixture.Image([]v1.Layer{layer}, nil, v1.Platform{})
	cfg, _ := good.RawConfigFile()
	m, _ := good.Manifest()
	cases := map[string]func(m *v1.Manifest){
		"wrong size":        func(m *v1.Manifest) { m.Layers[0].Size++ },
		"extra layer":       func(m *v1.Manifest) { m.Layers = append(m.Layers, m.Layers[0]) },
		"huge config":       func(m *v1.Manifest) { m.Config.Size = 1 << 40 },
		"wrong config hash": func(m *v1.Manifest) { m.Config.Digest.Hex = strings.Repeat("0", 64) },
	}
	for n, edit := range cases {
		t.Run(n, func(t *testing.T) {
			r := newTestRegistry(t)
			mm := *m
			mm.Layers = append([]v1.Descriptor{}, m.Layers...)
			edit(&mm)
			raw, _ := json.Marshal(&mm)
			ref := pushRaw(t, r, "lib/lie:1", &rawImage{manifest: raw, config: cfg, layers: []v1.Layer{layer}})
			s := openStore(t)
			if _, err := Pull(context.Background(), s, ref, Options{}); err == nil {
				t.Fatal("pull succeeded")
			}
			if imgs, _ := s.Images(); len(imgs) != 0 {
				t.Errorf("image recorded")
			}
			assertClean(t, s)
		})
	}
	t.Run("garbage manifest", func(t *testing.T) {
		r := newTestRegistry(t)
		ref := pushRaw(t, r, "lib/garbage:1", &rawImage{manifest: []byte(`{"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json", "layers": 5}`), config: cfg})
		s := openStore(t)
		if _, err := Pull(context.Background(), s, ref, Options{}); err == nil {
			t.Fatal("pull succeeded")
		}
	})
}

func wrongDiffID(t *testing.T, l v1.Layer) v1.Image {
	img := fixture.Image([]v1.Layer{l}, nil, v1.Platform{})
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.RootFS.DiffIDs[0].Hex = strings.Repeat("1", 64)
	img, err := mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestPullConcurrentFetchesOnce(t *testing.T) {
	r := newTestRegistry(t)
	img := twoLayerImage(t)
	ref := r.push(t, "lib/two:1", img)
	dir := t.TempDir()
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// separate Store values on one root, as separate processes
			s, err := store.Open(filepath.Join(dir, "root"), filepath.Join(dir, "run"))
			if err == nil {
				_, err = Pull(context.Background(), s, ref, Options{})
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	layers, _ := img.Layers()
	for _, l := range layers {
		d, _ := l.Digest()
		if n := r.blobFetches(d); n != 1 {
			t.Errorf("layer %s fetched %d times", d.Hex[:12], n)
		}
	}
}

func TestMirrors(t *testing.T) {
	mirror := newTestRegistry(t)
	mirror.push(t, "library/busybox:latest", twoLayerImage(t))
	s := openStore(t)
	opt := Options{Registries: Registries{Mirrors: map[string][]string{"docker.io": {"127.0.0.1:1", mirror.host}}}}
	img, err := Pull(context.Background(), s, "busybox", opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(img.Names) != 1 || img.Names[0] != "docker.io/library/busybox:latest" {
		t.Errorf("names %v", img.Names)
	}
	if !strings.HasPrefix(img.Digests[0], "docker.io/library/busybox@sha256:") {
		t.Errorf("digests %v", img.Digests)
	}
	// a mirror with a path prefix
	prefixed := newTestRegistry(t)
	prefixed.push(t, "hub/library/alpine:3", twoLayerImage(t))
	opt.Mirrors["docker.io"] = []string{prefixed.host + "/hub"}
	if _, err := Pull(context.Background(), s, "alpine:3", opt); err != nil {
		t.Fatal(err)
	}
}

func TestMatchPlatform(t *testing.T) {
	ms := []v1.Descriptor{
		{Digest: v1.Hash{Hex: "1"}, Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}},
		{Digest: v1.Hash{Hex: "2"}, Platform: &v1.Platform{OS: "linux", Architecture: "arm", Variant: "v6"}},
		{Digest: v1.Hash{Hex: "3"}, Platform: &v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}},
		{Digest: v1.Hash{Hex: "4"}, Platform: &v1.Platform{OS: "unknown", Architecture: "unknown"}},
	}
	for want, hex := range map[string]string{"linux/amd64": "1", "linux/arm/v7": "3", "linux/arm": "2"} {
		p, _ := ParsePlatform(want)
		d, err := matchPlatform(ms, *p)
		if err != nil || d.Digest.Hex != hex {
			t.Errorf("%s: got %s, %v", want, d.Digest.Hex, err)
		}
	}
	_, err := matchPlatform(ms, v1.Platform{OS: "linux", Architecture: "s390x"})
	if !errors.Is(err, ErrNoPlatform) || !strings.Contains(err.Error(), "linux/amd64, linux/arm/v6, linux/arm/v7") || strings.Contains(err.Error(), "unknown") {
		t.Errorf("error %v", err)
	}
	for _, bad := range []string{"linux", "/amd64", "a/b/c/d", ""} {
		if _, err := ParsePlatform(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// TestInsecureTLS: a registry with a self-signed certificate is refused
// until the config lists it as insecure.
func TestInsecureTLS(t *testing.T) {
	srv := httptest.NewUnstartedServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	tlsHost := strings.TrimPrefix(srv.URL, "https://")
	ref := tlsHost + "/lib/tls:1"
	tag, _ := name.NewTag(ref)
	if err := remote.Write(tag, twoLayerImage(t), remote.WithTransport(srv.Client().Transport)); err != nil {
		t.Fatal(err)
	}
	s := openStore(t)
	regs := Registries{}
	if _, err := Pull(context.Background(), s, ref, Options{Registries: regs}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("self-signed registry accepted without insecure: %v", err)
	}
	// --tls-verify=false: the reference's registry alone
	if _, err := Pull(context.Background(), s, ref, Options{Registries: regs.WithoutTLSVerify(ref)}); err != nil {
		t.Fatalf("--tls-verify=false: %v", err)
	}
	if got := regs.WithoutTLSVerify(ref).Insecure; len(got) != 1 || got[0] != tlsHost {
		t.Errorf("--tls-verify=false made %v insecure", got)
	}
	regs.Insecure = []string{tlsHost}
	if _, err := Pull(context.Background(), s, ref, Options{Registries: regs}); err != nil {
		t.Fatalf("insecure registry: %v", err)
	}
}
