package pull

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"tug/store"
)

// tarOf makes a tar of name → body, in order.
func tarOf(t *testing.T, files ...[2]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f[0], Mode: 0o644, Size: int64(len(f[1])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(f[1]))
	}
	tw.Close()
	return buf.Bytes()
}

func digest(b string) string {
	h := sha256.Sum256([]byte(b))
	return hex.EncodeToString(h[:])
}

// ociArchive is an OCI layout with one image: a manifest whose config
// descriptor declares cfgSize for the config body cfg; the manifest is
// padded to manifestPad bytes.
func ociArchive(t *testing.T, cfg string, cfgSize int, manifestPad int) []byte {
	m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},"layers":[]}`,
		digest(cfg), cfgSize)
	if pad := manifestPad - len(m); pad > 0 {
		m = m[:len(m)-1] + `,"annotations":{"pad":"` + strings.Repeat("x", pad) + `"}}`
	}
	idx, _ := json.Marshal(map[string]any{"schemaVersion": 2, "manifests": []map[string]any{{
		"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + digest(m), "size": len(m),
	}}})
	return tarOf(t, [2]string{"oci-layout", `{"imageLayoutVersion":"1.0.0"}`}, [2]string{"index.json", string(idx)},
		[2]string{"blobs/sha256/" + digest(m), m}, [2]string{"blobs/sha256/" + digest(cfg), cfg})
}

// TestLoadBoundsByRealSize: what load reads whole (manifests, indexes,
// configs) is bounded by the bytes in the archive, not by the sizes
// its descriptors declare; nothing is added to the store.
func TestLoadBoundsByRealSize(t *testing.T) {
	bigCfg := `{"pad":"` + strings.Repeat("x", store.MaxConfigSize) + `"}`
	for name, tc := range map[string]struct {
		archive []byte
		want    string
	}{
		"oci config larger than declared": {ociArchive(t, bigCfg, 200, 0), "is 8388618 bytes, more than the 8388608 allowed"},
		"oci config of another size":      {ociArchive(t, `{"architecture":"amd64","os":"linux"}`, 12, 0), "but its descriptor says 12"},
		"oci manifest too large":          {ociArchive(t, `{}`, 2, store.MaxManifestSize+1), "more than the 4194304 allowed"},
		"docker manifest.json too large": {tarOf(t, [2]string{"manifest.json", "[" + strings.Repeat(" ", store.MaxManifestSize) + "]"}),
			"manifest.json: is 4194306 bytes"},
		"docker config too large": {tarOf(t, [2]string{"c.json", bigCfg}, [2]string{"manifest.json", `[{"Config":"c.json","RepoTags":["x:1"],"Layers":[]}]`}),
			"image config c.json is 8388618 bytes"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := store.Open(filepath.Join(dir, "root"), filepath.Join(dir, "run"))
			if err != nil {
				t.Fatal(err)
			}
			_, err = Load(context.Background(), s, bytes.NewReader(tc.archive), LoadOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("load: %v, want %q", err, tc.want)
			}
			if imgs, _ := s.Images(); len(imgs) != 0 {
				t.Errorf("%d images added", len(imgs))
			}
		})
	}
}
