package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
)

// TestDockerTerminal: the docker CLI on a terminal, through tug's API:
// run -it gets a pty of the window's size and follows its resizes, and
// its exit code comes back; exec -it the same.
func TestDockerTerminal(t *testing.T) {
	docker, err := exec.LookPath("docker")
	if err != nil {
		t.Skip("no docker CLI here")
	}
	se := newStoreEnv(t, needE2E(t))
	sock := filepath.Join(t.TempDir(), "api.sock")
	svc := se.tug("system", "service", "--time", "0", "unix://"+sock)
	if err := svc.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		svc.Process.Signal(syscall.SIGTERM)
		if err := svc.Wait(); err != nil {
			t.Errorf("the service: %v", err)
		}
	}()
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
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
			time.Sleep(300 * time.Millisecond) // SIGWINCH reaches docker, which posts the resize
			io.WriteString(master, "stty size\r")
			expect(t, master, "50 132")
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
