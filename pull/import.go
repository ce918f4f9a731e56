package pull

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"tug/store"
)

// ImportOptions are tug import's flags.
type ImportOptions struct {
	Changes []string // --change 'CMD …', Dockerfile instructions
	Message string   // -m: the history comment
	Name    string   // canonical name to give the image, or ""
}

// Import makes a one-layer image of a filesystem tar (tug export's
// counterpart): src is a file, an http(s) URL, or "-" for r.
func Import(ctx context.Context, s *store.Store, src string, r io.Reader, opt ImportOptions) (*store.Image, error) {
	tmp, done, err := s.TempDir()
	if err != nil {
		return nil, err
	}
	defer done()
	path := tmp + "/rootfs.tar"
	if err := fetchTo(ctx, src, r, path); err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	layer, err := tarball.LayerFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	cfg := v1.Config{}
	if err := applyChanges(&cfg, opt.Changes); err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	img, err := mutate.Append(empty.Image, mutate.Addendum{Layer: layer, History: v1.History{
		Created: v1.Time{Time: now}, CreatedBy: "tug import " + src, Comment: opt.Message,
	}})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Config, cf.Created, cf.OS, cf.Architecture = cfg, v1.Time{Time: now}, "linux", runtime.GOARCH
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return nil, err
	}
	add := store.AddOptions{}
	if opt.Name != "" {
		add.Names = []string{opt.Name}
	}
	return s.AddImage(ctx, img, add)
}

// fetchTo copies src (a file, a URL, or "-" for r) to path.
func fetchTo(ctx context.Context, src string, r io.Reader, path string) error {
	switch {
	case src == "-":
	case strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://"):
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", src, resp.Status)
		}
		r = resp.Body
	default:
		f, err := os.Open(src)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	return copyToFile(r, path)
}

// applyChanges applies --change instructions, as docker import takes
// them: CMD, ENTRYPOINT (exec or shell form), ENV, EXPOSE, LABEL, USER,
// VOLUME, WORKDIR, STOPSIGNAL.
func applyChanges(cfg *v1.Config, changes []string) error {
	for _, ch := range changes {
		instr, arg, _ := strings.Cut(strings.TrimSpace(ch), " ")
		arg = strings.TrimSpace(arg)
		switch strings.ToUpper(instr) {
		case "CMD":
			cfg.Cmd = commandForm(arg)
		case "ENTRYPOINT":
			cfg.Entrypoint = commandForm(arg)
		case "ENV":
			k, v, ok := strings.Cut(arg, "=")
			if !ok {
				k, v, _ = strings.Cut(arg, " ")
			}
			cfg.Env = append(cfg.Env, k+"="+strings.TrimSpace(v))
		case "EXPOSE":
			for _, p := range strings.Fields(arg) {
				if !strings.Contains(p, "/") {
					p += "/tcp"
				}
				if cfg.ExposedPorts == nil {
					cfg.ExposedPorts = map[string]struct{}{}
				}
				cfg.ExposedPorts[p] = struct{}{}
			}
		case "LABEL":
			k, v, _ := strings.Cut(arg, "=")
			if cfg.Labels == nil {
				cfg.Labels = map[string]string{}
			}
			cfg.Labels[k] = strings.Trim(v, `"`)
		case "USER":
			cfg.User = arg
		case "WORKDIR":
			cfg.WorkingDir = arg
		case "STOPSIGNAL":
			cfg.StopSignal = arg
		case "VOLUME":
			if cfg.Volumes == nil {
				cfg.Volumes = map[string]struct{}{}
			}
			paths := strings.Fields(arg)
			if strings.HasPrefix(arg, "[") {
				paths = nil
				if err := json.Unmarshal([]byte(arg), &paths); err != nil {
					return fmt.Errorf("--change %q: %w", ch, err)
				}
			}
			for _, p := range paths {
				cfg.Volumes[p] = struct{}{}
			}
		default:
			return fmt.Errorf("--change %q: want CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR or STOPSIGNAL", ch)
		}
	}
	return nil
}

// commandForm reads an instruction's exec form (a JSON list) or its
// shell form (run by /bin/sh -c).
func commandForm(arg string) []string {
	var list []string
	if strings.HasPrefix(arg, "[") && json.Unmarshal([]byte(arg), &list) == nil {
		return list
	}
	return []string{"/bin/sh", "-c", arg}
}
