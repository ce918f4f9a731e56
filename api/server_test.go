package api

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"tug/store"
)

// newServer is a service over a fresh store, as an httptest server.
func newServer(t *testing.T) *httptest.Server {
	t.Helper()
	dir := t.TempDir()
	s, err := store.Open(filepath.Join(dir, "root"), filepath.Join(dir, "run"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &server{Options: Options{Store: s, Version: "test"}, mux: http.NewServeMux(), idle: newIdleTimer(0)}
	srv.routes()
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return ts
}

// TestRequests: versions, headers, docker's error bodies and statuses.
func TestRequests(t *testing.T) {
	ts := newServer(t)
	for _, tc := range []struct {
		method, path, body string
		code               int
		want               string // in the body
	}{
		{"GET", "/_ping", "", 200, "OK"},
		{"GET", "/v1.44/_ping", "", 200, "OK"},
		{"GET", "/v1.24/_ping", "", 200, "OK"},
		{"GET", "/v1.23/_ping", "", 400, `{"message":"client version 1.23 is too old. Minimum supported API version is 1.24`},
		{"HEAD", "/_ping", "", 200, ""},
		{"GET", "/v1/_ping", "", 404, "page not found"},
		{"GET", "/vx.y/_ping", "", 404, "page not found"},
		{"GET", "/v1.44/containers/json", "", 200, "[]"},
		{"GET", "/containers/nosuch/json", "", 404, `{"message":"No such container: nosuch"}`},
		{"POST", "/containers/nosuch/start", "", 404, "No such container: nosuch"},
		{"DELETE", "/containers/nosuch", "", 404, "No such container: nosuch"},
		{"POST", "/containers/nosuch/wait?condition=removed", "", 404, "No such container"},
		{"POST", "/containers/create", "{not json", 400, "the request body"},
		{"POST", "/containers/create", `{"Cmd":["true"]}`, 400, "no image given"},
		{"POST", "/containers/create", `{"Image":"busybox","Bogus":1}`, 404, "No such image"},
		{"GET", "/containers/json?filters=" + `{"status":["exited"]}`, "", 200, "[]"},
		{"GET", "/containers/json?filters=" + `{"status":{"exited":true}}`, "", 200, "[]"},
		{"GET", "/containers/json?filters=" + `{"colour":["red"]}`, "", 400, "colour"},
		{"GET", "/containers/json?filters=[1", "", 400, "filters"},
		{"GET", "/images/json", "", 200, "[]"},
		{"GET", "/images/docker.io/library/nosuch:1/json", "", 404, "No such image"},
		{"POST", "/images/create", "", 400, "fromImage"},
		{"POST", "/images/create?fromImage=Bad%20Name", "", 400, ""},
		{"GET", "/containers/x/checkpoints", "", 501, "does not serve GET /containers/x/checkpoints"},
		{"GET", "/swarm", "", 501, "does not serve GET /swarm"},
		{"GET", "/nothing/here", "", 404, "page not found"},
	} {
		req, err := http.NewRequest(tc.method, ts.URL+tc.path, strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || !strings.Contains(string(body), tc.want) {
			t.Errorf("%s %s: %d %q, want %d with %q", tc.method, tc.path, resp.StatusCode, body, tc.code, tc.want)
		}
		if v := resp.Header.Get("Api-Version"); v != Version {
			t.Errorf("%s %s: Api-Version %q", tc.method, tc.path, v)
		}
		if resp.StatusCode >= 400 && !json.Valid(body) {
			t.Errorf("%s %s: error body %q is not JSON", tc.method, tc.path, body)
		}
	}
}

// TestClientShapes reads the answers with moby's own client, which
// decodes them into the API's types.
func TestClientShapes(t *testing.T) {
	ts := newServer(t)
	cli, err := client.New(client.WithHost("tcp://"+strings.TrimPrefix(ts.URL, "http://")), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx := context.Background()
	ping, err := cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true})
	if err != nil || ping.APIVersion != Version || ping.OSType != "linux" {
		t.Errorf("ping: %+v %v", ping, err)
	}
	list, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true})
	if err != nil || len(list.Items) != 0 {
		t.Errorf("container list: %+v %v", list, err)
	}
	imgs, err := cli.ImageList(ctx, client.ImageListOptions{})
	if err != nil || len(imgs.Items) != 0 {
		t.Errorf("image list: %+v %v", imgs, err)
	}
	if _, err := cli.ContainerInspect(ctx, "nosuch", client.ContainerInspectOptions{}); !cerrdefs.IsNotFound(err) {
		t.Errorf("inspect of no container: %v, want a not-found error", err)
	}
}

func TestOlder(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"1.23", "1.24", true}, {"1.24", "1.24", false}, {"1.44", "1.24", false}, {"1.9", "1.24", true}, {"2.0", "1.24", false}, {"0.99", "1.24", true},
	} {
		if got := older(tc.a, tc.b); got != tc.want {
			t.Errorf("older(%s, %s) = %v", tc.a, tc.b, got)
		}
	}
}

// TestIdle: the timer fires only once nothing has been in flight for
// its span.
func TestIdle(t *testing.T) {
	idle := newIdleTimer(50 * time.Millisecond)
	idle.begin()
	select {
	case <-idle.expired():
		t.Fatal("expired with a request in flight")
	case <-time.After(150 * time.Millisecond):
	}
	idle.end()
	select {
	case <-idle.expired():
	case <-time.After(2 * time.Second):
		t.Fatal("not expired 2 s after the last request")
	}
	if never := newIdleTimer(0); never.timer != nil {
		t.Error("a span of 0 has a timer")
	}
}

// TestListenUnix: a socket of 0600; a stale one is replaced, a live one
// is refused.
func TestListenUnix(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "tug.sock")
	l, warning, err := Listen("unix://"+path, "", -1)
	if err != nil || warning != "" {
		t.Fatal(err, warning)
	}
	if _, _, err := Listen(path, "", -1); err == nil || !strings.Contains(err.Error(), "another service") {
		t.Errorf("a second listener on a live socket: %v", err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	l, _, err = Listen(path, "", -1)
	if err != nil {
		t.Fatalf("a stale socket is not replaced: %v", err)
	}
	l.Close()
	if _, _, err := Listen("http://x", "", -1); err == nil {
		t.Error("http:// accepted")
	}
	if _, w, err := Listen("tcp://127.0.0.1:0", "", -1); err != nil || !strings.Contains(w, "no authentication") {
		t.Errorf("tcp: %v %q", err, w)
	}
}
