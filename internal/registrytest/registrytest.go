// Package registrytest starts Debian's docker-registry (the distribution
// server) on a free loopback port, for end-to-end tests and the benchmark.
package registrytest

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// Binary is where Debian's docker-registry package installs the server.
const Binary = "/usr/bin/docker-registry"

// Registry is a running docker-registry.
type Registry struct {
	Addr string // 127.0.0.1:PORT
	cmd  *exec.Cmd
}

// Start runs docker-registry with its storage under dir. htpasswd, if
// not empty, is a htpasswd file that turns basic auth on.
func Start(dir, htpasswd string) (*Registry, error) {
	if _, err := os.Stat(Binary); err != nil {
		return nil, fmt.Errorf("docker-registry not installed (apt-get install docker-registry): %w", err)
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	auth := ""
	if htpasswd != "" {
		auth = fmt.Sprintf("auth:\n  htpasswd:\n    realm: tug-test\n    path: %s\n", htpasswd)
	}
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
%s`, filepath.Join(dir, "data"), addr, auth)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(Binary, "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start docker-registry: %w", err)
	}
	r := &Registry{Addr: addr, cmd: cmd}
	if err := r.wait(); err != nil {
		r.Stop()
		log, _ := os.ReadFile(logf.Name())
		return nil, fmt.Errorf("%w; its log:\n%s", err, log)
	}
	return r, nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// wait polls /v2/ until the server answers, for up to 10 seconds.
func (r *Registry) wait() error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + r.Addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("docker-registry did not answer on %s", r.Addr)
}

// Stop kills the server.
func (r *Registry) Stop() {
	r.cmd.Process.Kill()
	r.cmd.Wait()
}
