// Package helper runs the programs tug carries inside itself: helpers
// that link a heavy library (k8s.io/api for kube, compose-go for
// compose), so that no other tug start pays its package inits. tug
// embeds each as bytes and runs it from a memfd: a JSON request on its
// stdin, its answer on stdout, an error as one line on stderr.
package helper

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// Helper is one embedded helper.
type Helper struct {
	FS     embed.FS
	Path   string // in FS: "helper/tug-kube"
	Readme string // in the source tree, for a tug built without it: "kube/helper/README"
	What   string // what it is for, in errors: "Kubernetes"
}

// Run runs h on req (as JSON) and returns what it printed.
func (h Helper) Run(req any) ([]byte, error) {
	name, what := path.Base(h.Path), h.What
	bin, err := h.FS.ReadFile(h.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("this tug was built without its %s helper (%s): build it with make build", what, h.Readme)
	}
	if err != nil {
		return nil, err
	}
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("%s: memfd: %w", what, err)
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	if _, err := f.Write(bin); err != nil {
		return nil, fmt.Errorf("%s: write the helper: %w", what, err)
	}
	in, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	var out, errOut bytes.Buffer
	// the child's exec opens the memfd through its /proc/self/fd link
	// before close-on-exec closes it
	cmd := exec.Command(fmt.Sprintf("/proc/self/fd/%d", fd))
	cmd.Args = []string{name}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(in), &out, &errOut
	cmd.Env = []string{}
	if err := cmd.Run(); err != nil {
		if msg := strings.TrimSpace(errOut.String()); msg != "" {
			return nil, errors.New(msg)
		}
		return nil, fmt.Errorf("%s: the helper: %w", what, err)
	}
	return out.Bytes(), nil
}
