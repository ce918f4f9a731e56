package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/creack/pty"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
)

// startService runs tug system service of se's store on a socket of its
// own, with no idle exit, until the test ends; it returns the socket
// once it listens.
func startService(t *testing.T, se *storeEnv) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "api.sock")
	svc := se.tug("system", "service", "--time", "0", "unix://"+sock)
	if err := svc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		svc.Process.Signal(syscall.SIGTERM)
		if err := svc.Wait(); err != nil {
			t.Errorf("the service: %v", err)
		}
	})
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(sock); err == nil {
			return sock
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the service does not listen on %s", sock)
	return ""
}

// TestDockerTerminal: the docker CLI on a terminal, through tug's API:
// run -it gets a pty of the window's size and follows its resizes, and
// its exit code comes back; exec -it the same.
func TestDockerTerminal(t *testing.T) {
	docker, err := exec.LookPath("docker")
	if err != nil {
		t.Skip("no docker CLI here")
	}
	se := newStoreEnv(t, needE2E(t))
	sock := startService(t, se)
	env := append(os.Environ(), "DOCKER_HOST=unix://"+sock, "DOCKER_CONFIG="+t.TempDir())
	if out, err := se.tug("run", "-d", "--name", "bg", "busybox", "sleep", "100").CombinedOutput(); err != nil {
		t.Fatalf("run -d: %v\n%s", err, out)
	}
	for _, args := range [][]string{{"run", "-it", "--rm", "busybox", "sh"}, {"exec", "-it", "bg", "sh"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			master, slave, err := pty.Open()
			if err != nil {
				t.Fatal(err)
			}
			defer master.Close()
			pty.Setsize(master, &pty.Winsize{Rows: 24, Cols: 80})
			cmd := exec.Command(docker, args...)
			cmd.Env = env
			cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
			cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			slave.Close()
			expect(t, master, "# ")
			io.WriteString(master, "echo sum=$((40+2)); tty; echo END-$((1+1))\r")
			got := expect(t, master, "END-2")
			for _, want := range []string{"sum=42", "/dev/pts/"} {
				if !strings.Contains(got, want) {
					t.Errorf("want %q in %q", want, got)
				}
			}
			io.WriteString(master, "stty size\r")
			expect(t, master, "24 80")
			pty.Setsize(master, &pty.Winsize{Rows: 50, Cols: 132})
			expectSize(t, master, "50 132") // SIGWINCH reaches docker, which posts the resize
			io.WriteString(master, "exit 3\r")
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				cmd.Process.Kill()
				t.Fatal("docker did not exit")
			}
			if code := cmd.ProcessState.ExitCode(); code != 3 {
				t.Errorf("exit code %d, want 3", code)
			}
		})
	}
	se.tug("rm", "-f", "bg").Run()
}

// TestAPIClientGone: a client that goes away mid-attach or mid-pull
// ends its request, so the service goes idle and exits, and leaves the
// container running and the store sound.
func TestAPIClientGone(t *testing.T) {
	se := newStoreEnv(t, needE2E(t))
	sock := filepath.Join(t.TempDir(), "api.sock")
	if out, err := se.tug("run", "-d", "--name", "quiet", "busybox", "sleep", "100").CombinedOutput(); err != nil {
		t.Fatalf("run -d: %v\n%s", err, out)
	}
	defer se.tug("rm", "-f", "quiet").Run()
	svc := se.tug("system", "service", "--time", "1", "unix://"+sock)
	if err := svc.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- svc.Wait() }()
	for _, req := range []string{
		"POST /v1.44/containers/quiet/attach?stream=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n",
		"POST /v1.44/images/create?fromImage=busybox&tag=latest HTTP/1.1\r\nHost: d\r\nContent-Length: 0\r\n\r\n",
	} {
		var conn net.Conn
		var err error
		for i := 0; i < 100; i++ {
			if conn, err = net.Dial("unix", sock); err == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(conn, req)
		buf := make([]byte, 64)
		if n, err := conn.Read(buf); err != nil || !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 ") {
			t.Fatalf("%s: %q %v", strings.Fields(req)[1], buf[:n], err)
		}
		conn.Close()
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("the service: %v", err)
		}
	case <-time.After(15 * time.Second):
		svc.Process.Kill()
		t.Fatal("the service did not go idle after its clients went away: a request was left in flight")
	}
	out, err := se.tug("ps", "--format", "{{.Names}} {{.State}}").Output()
	if err != nil || strings.TrimSpace(string(out)) != "quiet running" {
		t.Errorf("ps after the attach went away: %q %v", out, err)
	}
	if out, err := se.tug("system", "check").CombinedOutput(); err != nil {
		t.Errorf("system check after the pull went away: %v\n%s", err, out)
	}
}

// TestTestcontainers: testcontainers-go, as a test suite would use it
// (with Ryuk off), starts a container through tug's socket and waits
// for its log line and for its port, published on a host port of
// tug's choosing, then terminates it.
func TestTestcontainers(t *testing.T) {
	se := newStoreEnv(t, needE2E(t))
	sock := startService(t, se)
	t.Setenv("DOCKER_HOST", "unix://"+sock)
	t.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ctr, err := testcontainers.Run(ctx, "busybox",
		testcontainers.WithCmd("sh", "-c", "echo served > /index.html; echo ready; exec httpd -f -p 80 -h /"),
		testcontainers.WithExposedPorts("80/tcp"),
		testcontainers.WithWaitStrategy(wait.ForAll(wait.ForLog("ready"), wait.ForListeningPort("80/tcp")).WithDeadline(time.Minute)),
	)
	if err != nil {
		t.Fatalf("testcontainers: %v", err)
	}
	host, err := ctr.Host(ctx)
	if err != nil {
		t.Fatal(err)
	}
	port, err := ctr.MappedPort(ctx, "80/tcp")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + net.JoinHostPort(host, port.Port()) + "/index.html")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "served\n" {
		t.Errorf("GET of the mapped port: %q", body)
	}
	out, _ := se.tug("ps", "-q").Output()
	if strings.TrimSpace(string(out)) != ctr.GetContainerID()[:12] {
		t.Errorf("tug ps -q: %q, want %s", out, ctr.GetContainerID()[:12])
	}
	if err := testcontainers.TerminateContainer(ctr, testcontainers.StopTimeout(time.Second)); err != nil {
		t.Errorf("terminate: %v", err)
	}
	if out, _ := se.tug("ps", "-aq").Output(); len(out) != 0 {
		t.Errorf("left after terminate: %s", out)
	}
}

// TestMobyClient reads the API's answers with moby's own client, which
// decodes them into the API's types: create, inspect, list with a label
// filter, the events of a stop, and the errors' kinds.
func TestMobyClient(t *testing.T) {
	se := newStoreEnv(t, needE2E(t))
	sock := startService(t, se)
	cli, err := client.New(client.WithHost("unix://"+sock), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	created, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name:       "shapes",
		Config:     &container.Config{Image: "busybox", Cmd: []string{"sh", "-c", "echo hello-log; exec sleep 100"}, Labels: map[string]string{"app": "shapes"}, Env: []string{"A=1"}},
		HostConfig: &container.HostConfig{NetworkMode: "none"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer se.tug("rm", "-f", "shapes").Run()
	if _, err := cli.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	in, err := cli.ContainerInspect(ctx, "shapes", client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := in.Container
	if c.ID != created.ID || c.Name != "/shapes" || !c.State.Running || c.State.Pid <= 0 || c.State.Status != container.StateRunning ||
		!slices.Equal(c.Config.Cmd, []string{"sh", "-c", "echo hello-log; exec sleep 100"}) || !slices.Contains(c.Config.Env, "A=1") || c.HostConfig.NetworkMode != "none" {
		t.Errorf("inspect: %+v %+v %+v", c.State, c.Config, c.HostConfig)
	}
	list, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Size: true, Filters: client.Filters{}.Add("label", "app=shapes")})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("list: %+v %v", list, err)
	}
	if it := list.Items[0]; it.ID != created.ID || !slices.Equal(it.Names, []string{"/shapes"}) || it.State != container.StateRunning || it.Labels["app"] != "shapes" ||
		!strings.HasPrefix(it.Status, "Up") || it.Command != "sh -c echo hello-log; exec sleep 100" || it.HostConfig.NetworkMode != "none" || it.SizeRootFs < 100_000 {
		t.Errorf("list item: %+v", it)
	}
	// attach with logs=1 and no stream: what it wrote so far, then the end
	for ; ; time.Sleep(50 * time.Millisecond) {
		att, err := cli.ContainerAttach(ctx, "shapes", client.ContainerAttachOptions{Logs: true, Stdout: true, Stderr: true})
		if err != nil {
			t.Fatalf("attach logs=1: %v", err)
		}
		got, err := io.ReadAll(att.Reader)
		att.Close()
		if err != nil {
			t.Fatalf("attach logs=1: %v", err)
		}
		if bytes.Contains(got, []byte("hello-log\n")) && got[0] == 1 { // on stdout's frames
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("attach logs=1: %q", got)
		}
	}
	// ConsoleSize: the terminal has that size from the start, without the
	// resize that a client sends after it (and that may come late)
	sized, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config:     &container.Config{Image: "busybox", Tty: true, Cmd: []string{"stty", "size"}},
		HostConfig: &container.HostConfig{NetworkMode: "none", ConsoleSize: [2]uint{33, 99}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer se.tug("rm", "-f", sized.ID).Run()
	if _, err := cli.ContainerStart(ctx, sized.ID, client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	if out, err := se.tug("wait", sized.ID).CombinedOutput(); err != nil {
		t.Fatalf("wait: %v %s", err, out)
	}
	if out, err := se.tug("logs", sized.ID).CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "33 99" {
		t.Errorf("stty size on a console of 33x99: %q, %v", out, err)
	}
	evs := cli.Events(ctx, client.EventsListOptions{Filters: client.Filters{}.Add("container", created.ID)})
	timeout := 1
	if _, err := cli.ContainerStop(ctx, "shapes", client.ContainerStopOptions{Timeout: &timeout}); err != nil {
		t.Fatal(err)
	}
	for want := "die"; want != ""; {
		select {
		case m := <-evs.Messages:
			if m.Actor.ID != created.ID || m.Type != "container" {
				t.Errorf("event of another: %+v", m)
			}
			if string(m.Action) == want {
				if m.Actor.Attributes["name"] != "shapes" || m.Actor.Attributes["exitCode"] != "137" {
					t.Errorf("die event: %+v", m)
				}
				want = ""
			}
		case err := <-evs.Err:
			t.Fatalf("events: %v", err)
		case <-time.After(20 * time.Second):
			t.Fatal("no die event")
		}
	}
	for _, tc := range []struct {
		what string
		err  error
		kind func(error) bool
	}{
		{"inspect of none", inspectErr(cli.ContainerInspect(ctx, "nosuch", client.ContainerInspectOptions{})), cerrdefs.IsNotFound},
		{"create of no image", createErr(cli.ContainerCreate(ctx, client.ContainerCreateOptions{Config: &container.Config{Image: "nosuch:1"}})), cerrdefs.IsNotFound},
		{"create of a name taken", createErr(cli.ContainerCreate(ctx, client.ContainerCreateOptions{Name: "shapes", Config: &container.Config{Image: "busybox"}})), cerrdefs.IsConflict},
	} {
		if !tc.kind(tc.err) {
			t.Errorf("%s: %v (%T)", tc.what, tc.err, tc.err)
		}
	}
}

func inspectErr(_ client.ContainerInspectResult, err error) error { return err }
func createErr(_ client.ContainerCreateResult, err error) error   { return err }

// TestSocketActivation, in the v2 guest: make install's tug.socket,
// started, listens on /run/tug/tug.sock (0600); the first request
// starts tug.service, which answers it; the service exits once idle and
// the socket brings it back for the next request.
func TestSocketActivation(t *testing.T) {
	installed := os.Getenv("TUG_TEST_INSTALL")
	if installed == "" || !systemdBooted() {
		t.Skip("it installs systemd units: the v2 guest runs it (make test-v2)")
	}
	if out, err := exec.Command("cp", "-a", installed+"/.", "/").CombinedOutput(); err != nil {
		t.Fatalf("install: %v: %s", err, out)
	}
	sh(t, "systemctl", "daemon-reload")
	sh(t, "systemctl", "start", "tug.socket")
	defer exec.Command("systemctl", "stop", "tug.socket", "tug.service").Run()
	const sock = "/run/tug/tug.sock"
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the socket: %v %v", fi, err)
	}
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}, Timeout: 2 * time.Minute}
	ping := func() {
		t.Helper()
		resp, err := hc.Get("http://tug/_ping")
		if err != nil {
			t.Fatalf("ping: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "OK" || resp.Header.Get("Api-Version") == "" {
			t.Fatalf("ping: %q %v", body, resp.Header)
		}
	}
	state := func() string {
		out, _ := exec.Command("systemctl", "is-active", "tug.service").Output()
		return strings.TrimSpace(string(out))
	}
	ping()
	if s := state(); s != "active" {
		t.Errorf("tug.service after a request: %s", s)
	}
	for deadline := time.Now().Add(time.Minute); state() == "active"; time.Sleep(500 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("tug.service did not exit once idle")
		}
	}
	ping() // the socket starts it again
}
