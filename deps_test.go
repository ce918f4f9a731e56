package main

import (
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// forbidden lists, for each package tree, the tug packages it must not
// import: imports point one way, commands → api, build, kube → pod → run,
// net, pull → store.
var forbidden = map[string][]string{
	"build":    {"tug/commands", "tug/config", "tug/pod", "tug/kube", "tug/api"},
	"pod":      {"tug/commands", "tug/config", "tug/pull", "tug/build", "tug/kube", "tug/api"},
	"kube":     {"tug/commands", "tug/config", "tug/build", "tug/pull", "tug/api"},
	"store":    {"tug/commands", "tug/pull", "tug/run", "tug/net", "tug/config", "tug/build", "tug/pod", "tug/kube", "tug/api"},
	"pull":     {"tug/commands", "tug/run", "tug/net", "tug/config", "tug/build", "tug/pod", "tug/kube", "tug/api"},
	"run":      {"tug/commands", "tug/pull", "tug/config", "tug/build", "tug/pod", "tug/kube", "tug/api"},
	"net":      {"tug/commands", "tug/pull", "tug/config", "tug/run", "tug/pod", "tug/kube", "tug/api"},
	"config":   {"tug/commands", "tug/pull", "tug/run", "tug/net", "tug/store", "tug/pod", "tug/kube", "tug/api"},
	"internal": {"tug/commands", "tug/pod", "tug/kube", "tug/api"},
	"api":      {"tug/commands", "tug/config"},
	"compose":  {"tug/commands", "tug/config", "tug/api"},
}

// forbiddenPkg lists, for single packages, tug packages they must not
// import, by exact path: the re-exec child knows neither the parent side
// of run nor the store, and the spec that crosses the pipe knows neither
// side.
var forbiddenPkg = map[string][]string{
	"run/child":     {"tug/run", "tug/run/doctor", "tug/store", "tug/net"},
	"run/childspec": {"tug/run", "tug/run/child", "tug/run/doctor", "tug/store", "tug/net", "tug/internal/userns"},
	// the Kubernetes helper is k8s.io/api and the plan, nothing of tug's;
	// the compose helper compose-go and its plan
	"kube/cmd/tug-kube":       {"tug/run", "tug/store", "tug/pod", "tug/kube", "tug/net", "tug/pull", "tug/build", "tug/internal/userns"},
	"compose/cmd/tug-compose": {"tug/run", "tug/store", "tug/pod", "tug/compose", "tug/net", "tug/pull", "tug/build", "tug/internal/userns"},
}

// TestImportDirection reads the imports of every non-test Go file and
// fails on an arrow in the wrong direction.
func TestImportDirection(t *testing.T) {
	checked := 0
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		top := strings.Split(filepath.ToSlash(path), "/")[0]
		bad := forbidden[top]
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		checked++
		exact := forbiddenPkg[filepath.ToSlash(filepath.Dir(path))]
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			for _, b := range bad {
				if p == b || strings.HasPrefix(p, b+"/") {
					t.Errorf("%s imports %s: imports must point commands → run, net, pull → store", path, p)
				}
			}
			for _, b := range exact {
				if p == b {
					t.Errorf("%s imports %s: the re-exec child and its spec stand apart from the parent side", path, p)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 10 {
		t.Fatalf("only %d files checked", checked)
	}
}

// TestKubernetesOffTheStartPath: tug itself links none of k8s.io's
// packages, whose inits every start would pay; only its embedded helper
// (kube/cmd/tug-kube) does.
func TestKubernetesOffTheStartPath(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-tags", "urfave_cli_no_docs", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, "tug/kube") {
		t.Fatal("tug does not link tug/kube: the test checks nothing")
	}
	for _, d := range deps {
		if strings.HasPrefix(d, "k8s.io/") || strings.HasPrefix(d, "sigs.k8s.io/") {
			t.Errorf("tug links %s: Kubernetes' packages belong in kube/cmd/tug-kube alone", d)
		}
	}
	helper, err := exec.Command("go", "list", "-deps", "./kube/cmd/tug-kube").Output()
	if err != nil || !strings.Contains(string(helper), "k8s.io/api/core/v1") {
		t.Errorf("the helper does not link k8s.io/api: %v", err)
	}
}
