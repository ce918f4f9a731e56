package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"tug/internal/fixture"
)

// rootlessUser is an unprivileged user the rootless tests run tug as.
type rootlessUser struct {
	name     string
	subStart int // first subordinate ID; 0: no range (single-ID fallback)
	uid, gid int
	home     string
	runtime  string // XDG_RUNTIME_DIR, if the user has one
	linger   bool   // under systemd: a user manager of its own (loginctl enable-linger)
}

// TestRootless runs testdata/rootless as three users the harness makes:
// tugrl, with /etc/subuid and /etc/subgid ranges and an XDG_RUNTIME_DIR,
// tugrl1, with neither, and tugsd, which where systemd runs the host
// has a lingering user manager (its /run/user/UID). Each has a home of its own, with a config
// that mirrors docker.io to the test registry, and runs a copy of tug
// that it can read. The users stay (useradd is slow to undo and harmless);
// their ranges are rewritten on every run.
func TestRootless(t *testing.T) {
	env := needE2E(t)
	for _, tool := range []string{"setpriv", "useradd", "newuidmap"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found (.ci/run installs util-linux, passwd and uidmap)", tool)
		}
	}
	base, err := os.MkdirTemp("", "tug-rootless")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(base, 0o755)
	bin := mkdir(base, "bin")
	for _, b := range []string{"tug", "udpecho"} {
		copyFile(t, filepath.Join(env.bin, b), filepath.Join(bin, b))
	}
	users := map[string]*rootlessUser{"tugrl": {name: "tugrl", subStart: 300000}, "tugrl1": {name: "tugrl1"},
		"tugsd": {name: "tugsd", subStart: 400000, linger: true}}
	for _, u := range users {
		setupUser(t, u, base, env.registry)
	}
	clientNS(t)
	t.Cleanup(func() {
		for _, u := range users {
			runAs(u, bin, "sh", "-c", "tug pod ls -q | xargs -r tug pod rm -f -t 0; tug ps -aq | xargs -r tug rm -f").Run()
		}
		os.RemoveAll(base)
	})
	testscript.Run(t, testscript.Params{
		Dir: "testdata/rootless",
		Condition: func(cond string) (bool, error) {
			if cond == "systemd" { // systemd is PID 1: tugsd has a user manager
				return systemdBooted(), nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Setup: func(e *testscript.Env) error {
			e.Setenv("PATH", env.bin+string(os.PathListSeparator)+os.Getenv("PATH"))
			e.Setenv("RLHOME", users["tugrl"].home)
			e.Setenv("RL1HOME", users["tugrl1"].home)
			e.Setenv("RLSUB", strconv.Itoa(users["tugrl"].subStart))
			e.Setenv("CLIENTNS", clientNSName)
			e.Setenv("RLBIN", bin)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// as [-nomap|-nosuid] USER CMD ARGS...: run a command as a
			// test user, in its home, with its environment; -nomap leaves
			// newuidmap and newgidmap out of PATH, -nosuid puts copies of
			// them without their setuid bit first in it.
			"as": func(ts *testscript.TestScript, neg bool, args []string) {
				mode := ""
				if len(args) > 0 && (args[0] == "-nomap" || args[0] == "-nosuid") {
					mode, args = args[0], args[1:]
				}
				if len(args) < 2 || users[args[0]] == nil {
					ts.Fatalf("usage: as [-nomap|-nosuid] tugrl|tugrl1|tugsd CMD ARGS...")
				}
				var cmd *exec.Cmd
				switch mode {
				case "-nomap":
					cmd = runAsPath(users[args[0]], bin, args[1:]...)
				case "-nosuid":
					cmd = asUser(users[args[0]], bin+":"+plainMapHelpers(ts, base)+":/usr/bin:/bin", args[1:]...)
				default:
					cmd = runAs(users[args[0]], bin, args[1:]...)
				}
				err := ts.Exec(cmd.Path, cmd.Args[1:]...)
				if (err != nil) != neg {
					ts.Fatalf("as %s: %v", strings.Join(args, " "), err)
				}
			},
			"xattr": cmdXattr,
		},
	})
	t.Run("killed", func(t *testing.T) { rootlessKilled(t, users["tugrl"], bin) })
	t.Run("disabled", func(t *testing.T) { rootlessDisabled(t, users["tugrl1"], bin) })
	t.Run("pull killed", func(t *testing.T) { rootlessPullKilled(t, users["tugrl"], bin, env) })
}

// rootlessPullKilled kills a rootless pull with SIGKILL while it
// unpacks: the namespace's tug dies with it, and the next pull clears
// the half-written layer, completes, and leaves no staging behind.
func rootlessPullKilled(t *testing.T, u *rootlessUser, bin string, env *e2e) {
	if err := push(env.registry+"/library/rlbig:latest", fixture.Big(4, 8<<20, 3)); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(u.home, ".local", "share", "tug")
	staging := filepath.Join(root, "layers", ".staging")
	pull := runAs(u, bin, "tug", "pull", "-q", "rlbig")
	if err := pull.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- pull.Wait() }()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(time.Millisecond) {
		if entries, _ := os.ReadDir(staging); len(entries) > 0 {
			pull.Process.Kill()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the pull never started unpacking")
		}
	}
	<-done
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, err := exec.Command("pgrep", "-u", u.name, "-r", "R,S,D,T", "-f", "tug pull").Output()
		if err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the namespace's tug outlived the killed pull: %s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if out, err := runAs(u, bin, "tug", "pull", "-q", "rlbig").CombinedOutput(); err != nil {
		t.Fatalf("pull after the kill: %v\n%s", err, out)
	}
	if left, _ := os.ReadDir(staging); len(left) > 0 {
		t.Errorf("staging left after the second pull: %d entries", len(left))
	}
	if out, err := runAs(u, bin, "tug", "rmi", "rlbig").CombinedOutput(); err != nil {
		t.Errorf("rmi: %v\n%s", err, out)
	}
}

// rootlessDisabled runs tug as u where user namespaces are disabled:
// inside a user namespace of the test's own (root and u mapped to
// themselves) whose user.max_user_namespaces is 0, which limits only it.
// tug must say so and how to fix it, and doctor must mark it.
func rootlessDisabled(t *testing.T, u *rootlessUser, bin string) {
	as := func(args ...string) (string, error) {
		script := fmt.Sprintf("echo 0 > /proc/sys/user/max_user_namespaces && exec /usr/bin/setpriv --reuid %d --regid %d --clear-groups "+
			"/usr/bin/env -i -C %s HOME=%s PATH=%s:/usr/bin:/bin tug %s", u.uid, u.gid, u.home, u.home, bin, strings.Join(args, " "))
		cmd := exec.Command("/bin/sh", "-c", script)
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER, GidMappingsEnableSetgroups: true,
			UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}, {ContainerID: u.uid, HostID: u.uid, Size: 1}},
			GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}, {ContainerID: u.gid, HostID: u.gid, Size: 1}},
		}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := as("run", "--rm", "--network", "none", "busybox", "true")
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 125 ||
		!strings.Contains(out, "tug: rootless setup: user namespaces are disabled (user.max_user_namespaces = 0): sudo sysctl -w user.max_user_namespaces=") {
		t.Errorf("run with user namespaces disabled: %v\n%s", err, out)
	}
	out, err = as("doctor")
	if err == nil || !strings.Contains(out, "✘ user namespaces                user namespaces are disabled (user.max_user_namespaces = 0)") {
		t.Errorf("doctor with user namespaces disabled: %v\n%s", err, out)
	}
}

// rootlessKilled kills a rootless foreground tug run with SIGKILL: its
// user namespace's tug and the container go with it, the container shows
// as exited 137, and no process of the user is left.
func rootlessKilled(t *testing.T, u *rootlessUser, bin string) {
	run := runAs(u, bin, "tug", "run", "--name", "killed-fg", "--network", "none", "busybox", "sleep", "1000")
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	status := func() string {
		out, _ := runAs(u, bin, "tug", "ps", "-a", "--filter", "name=killed-fg", "--format", "{{.Status}}").Output()
		return strings.TrimSpace(string(out))
	}
	// a deadline, not a measure: the v2 guest's emulation is slow
	deadline := time.Now().Add(30 * time.Second)
	for !strings.HasPrefix(status(), "Up") {
		if time.Now().After(deadline) {
			t.Fatalf("container not up: %q", status())
		}
		time.Sleep(50 * time.Millisecond)
	}
	run.Process.Kill()
	run.Wait()
	for !strings.HasPrefix(status(), "Exited (137)") {
		if time.Now().After(deadline) {
			t.Fatalf("after kill -9 of tug: %q, want Exited (137)", status())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if out, err := runAs(u, bin, "tug", "rm", "killed-fg").CombinedOutput(); err != nil {
		t.Fatalf("rm: %v: %s", err, out)
	}
	if out, err := exec.Command("pgrep", "-u", u.name, "-r", "R,S,D,T", "-a").Output(); err == nil {
		t.Errorf("processes of %s left:\n%s", u.name, out)
	}
}

// clientNSName is a network namespace the rootless test makes for a
// client with an address of its own, 10.233.0.2, on a veth whose host
// side is 10.233.0.1.
const clientNSName = "tugrl-client"

func clientNS(t *testing.T) {
	exec.Command("ip", "netns", "del", clientNSName).Run() // a killed run's
	for _, args := range [][]string{
		{"netns", "add", clientNSName},
		{"link", "add", "tugrlc0", "type", "veth", "peer", "name", "tugrlc1", "netns", clientNSName},
		{"addr", "add", "10.233.0.1/30", "dev", "tugrlc0"},
		{"link", "set", "tugrlc0", "up"},
		{"-n", clientNSName, "addr", "add", "10.233.0.2/30", "dev", "tugrlc1"},
		{"-n", clientNSName, "link", "set", "tugrlc1", "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", clientNSName).Run() })
}

// setupUser makes the user if it does not exist, sets its subordinate
// ranges, and gives it a fresh home and config under base.
func setupUser(t *testing.T, u *rootlessUser, base, registry string) {
	if out, err := exec.Command("id", "-u", u.name).Output(); err == nil {
		u.uid, _ = strconv.Atoi(strings.TrimSpace(string(out)))
	} else {
		if out, err := exec.Command("useradd", "--no-create-home", "--shell", "/bin/sh", u.name).CombinedOutput(); err != nil {
			t.Fatalf("useradd %s: %v: %s", u.name, err, out)
		}
		out, _ := exec.Command("id", "-u", u.name).Output()
		u.uid, _ = strconv.Atoi(strings.TrimSpace(string(out)))
	}
	out, _ := exec.Command("id", "-g", u.name).Output()
	u.gid, _ = strconv.Atoi(strings.TrimSpace(string(out)))
	for _, f := range []string{"/etc/subuid", "/etc/subgid"} {
		setRange(t, f, u)
	}
	u.home = filepath.Join(base, u.name)
	cfg := fmt.Sprintf("[registries]\ninsecure = [%q]\n\n[registries.mirrors]\n\"docker.io\" = [%q]\n", registry, registry)
	os.MkdirAll(filepath.Join(u.home, ".config", "tug"), 0o755)
	if err := os.WriteFile(filepath.Join(u.home, ".config", "tug", "config.toml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	dirs := []string{u.home, filepath.Join(u.home, ".config"), filepath.Join(u.home, ".config", "tug")}
	switch {
	case u.linger && systemdBooted():
		u.runtime = lingerUser(t, u)
	case u.subStart > 0:
		u.runtime = filepath.Join(base, u.name+"-run")
		os.Mkdir(u.runtime, 0o700)
		dirs = append(dirs, u.runtime)
	}
	for _, d := range dirs {
		if err := os.Chown(d, u.uid, u.gid); err != nil {
			t.Fatal(err)
		}
	}
	os.Chown(filepath.Join(u.home, ".config", "tug", "config.toml"), u.uid, u.gid)
}

// setRange rewrites file (/etc/subuid or /etc/subgid) with the user's
// range, or none.
func setRange(t *testing.T, file string, u *rootlessUser) {
	b, _ := os.ReadFile(file)
	lines := slices.DeleteFunc(strings.Split(strings.TrimSpace(string(b)), "\n"), func(l string) bool {
		return l == "" || strings.HasPrefix(l, u.name+":")
	})
	if u.subStart > 0 {
		lines = append(lines, fmt.Sprintf("%s:%d:65536", u.name, u.subStart))
	}
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// runAs is a command run as u, in its home, with only its own
// environment, tug's copy first in PATH.
func runAs(u *rootlessUser, bin string, args ...string) *exec.Cmd {
	return asUser(u, bin+":/usr/local/bin:/usr/bin:/bin", args...)
}

// runAsPath is runAs with newuidmap and newgidmap out of reach: PATH
// holds only tug's dir and a few tools linked from /usr/bin.
func runAsPath(u *rootlessUser, bin string, args ...string) *exec.Cmd {
	tools := filepath.Join(filepath.Dir(bin), "nomap")
	if _, err := os.Stat(tools); err != nil {
		os.MkdirAll(tools, 0o755)
		for _, tool := range []string{"sh", "cat", "ls", "id", "xargs", "busybox"} {
			if p, err := exec.LookPath(tool); err == nil {
				os.Symlink(p, filepath.Join(tools, tool))
			}
		}
	}
	return asUser(u, bin+":"+tools, args...)
}

// plainMapHelpers makes (once) a dir under base with copies of
// newuidmap and newgidmap that are not setuid, and returns it.
func plainMapHelpers(ts *testscript.TestScript, base string) string {
	dir := filepath.Join(base, "nosuid")
	if _, err := os.Stat(dir); err == nil {
		return dir
	}
	os.MkdirAll(dir, 0o755)
	for _, tool := range []string{"newuidmap", "newgidmap"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			ts.Fatalf("%s: %v", tool, err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			ts.Fatalf("%v", err)
		}
		if err := os.WriteFile(filepath.Join(dir, tool), b, 0o755); err != nil {
			ts.Fatalf("%v", err)
		}
	}
	return dir
}

func asUser(u *rootlessUser, path string, args ...string) *exec.Cmd {
	envs := []string{"HOME=" + u.home, "USER=" + u.name, "LOGNAME=" + u.name, "PATH=" + path}
	if u.runtime != "" {
		envs = append(envs, "XDG_RUNTIME_DIR="+u.runtime)
	}
	full := append([]string{"--reuid", u.name, "--regid", u.name, "--init-groups", "/usr/bin/env", "-i", "-C", u.home}, envs...)
	return exec.Command("/usr/bin/setpriv", append(full, args...)...)
}

func copyFile(t *testing.T, from, to string) {
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// systemdBooted tells whether systemd is PID 1 (the v2 guest).
func systemdBooted() bool {
	fi, err := os.Stat("/run/systemd/system")
	return err == nil && fi.IsDir()
}

// lingerUser starts u's user manager (loginctl enable-linger), waits
// until it listens, and returns its runtime dir; the test's end stops it.
func lingerUser(t *testing.T, u *rootlessUser) string {
	if out, err := exec.Command("loginctl", "enable-linger", u.name).CombinedOutput(); err != nil {
		t.Fatalf("loginctl enable-linger %s: %v: %s", u.name, err, out)
	}
	t.Cleanup(func() { exec.Command("loginctl", "disable-linger", u.name).Run() })
	runtime := fmt.Sprintf("/run/user/%d", u.uid)
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(runtime, "systemd", "private")); err == nil {
			return runtime
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s's systemd did not start: no %s/systemd/private", u.name, runtime)
		}
	}
}
