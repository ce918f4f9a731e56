package kube

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strings"

	"golang.org/x/sys/unix"

	"tug/kube/plan"
)

// The helper, kube/cmd/tug-kube, is the one program that links
// k8s.io/api; tug carries it as bytes and runs it from a memfd, so that
// no other tug start pays for those packages' inits (kube/helper/README).
//
//go:embed helper
var helperFS embed.FS

// ask runs the helper on req and returns what it printed.
func ask(req plan.Request) ([]byte, error) {
	bin, err := helperFS.ReadFile("helper/tug-kube")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errors.New("this tug was built without its Kubernetes helper (kube/helper/README): build it with make build")
	}
	if err != nil {
		return nil, err
	}
	fd, err := unix.MemfdCreate("tug-kube", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("kube: memfd: %w", err)
	}
	f := os.NewFile(uintptr(fd), "tug-kube")
	defer f.Close()
	if _, err := f.Write(bin); err != nil {
		return nil, fmt.Errorf("kube: write the helper: %w", err)
	}
	in, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	var out, errOut bytes.Buffer
	// the child's exec opens the memfd through its /proc/self/fd link
	// before close-on-exec closes it
	cmd := exec.Command(fmt.Sprintf("/proc/self/fd/%d", fd))
	cmd.Args = []string{"tug-kube"}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(in), &out, &errOut
	cmd.Env = []string{}
	if err := cmd.Run(); err != nil {
		if msg := strings.TrimSpace(errOut.String()); msg != "" {
			return nil, errors.New(msg)
		}
		return nil, fmt.Errorf("kube: the helper: %w", err)
	}
	return out.Bytes(), nil
}

// Plan asks the helper for the plan of the YAML files (and
// --configmap's); down's needs no ConfigMap or Secret to be there.
func Plan(files, configMaps []plan.Source, down bool) (*plan.Plan, error) {
	out, err := ask(plan.Request{Play: &plan.PlayRequest{Files: files, ConfigMaps: configMaps, Down: down}})
	if err != nil {
		return nil, err
	}
	var p plan.Plan
	if err := json.Unmarshal(out, &p); err != nil {
		return nil, fmt.Errorf("kube: the helper's plan: %w", err)
	}
	return &p, nil
}
