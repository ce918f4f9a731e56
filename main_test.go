package main

import (
	"archive/tar"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/sys/unix"

	"tug/internal/fixture"
	"tug/internal/registrytest"
)

// e2e is what every end-to-end test shares: the built binary and two
// docker-registry servers, one open and seeded with fixtures, one with
// basic auth.
type e2e struct {
	bin      string // dir holding the built tug
	registry string // 127.0.0.1:PORT, the docker.io mirror
	authReg  string // 127.0.0.1:PORT, needs tester:secret
	debian   bool   // the registry has library/debian:12, a debootstrap'd rootfs
}

// shared is the end-to-end environment, set up once by TestMain when the
// tests run as root.
var shared *e2e

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	if os.Geteuid() == 0 {
		dir, err := os.MkdirTemp("", "tug-e2e")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		var stop []func()
		shared, stop, err = setupE2E(dir)
		for _, f := range stop {
			defer f()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "end-to-end setup:", err)
			return 1
		}
	}
	return m.Run()
}

// needE2E skips a test that needs root and the shared environment.
func needE2E(t *testing.T) *e2e {
	if shared == nil {
		t.Skip("end-to-end tests run as root (CI does)")
	}
	return shared
}

func setupE2E(dir string) (*e2e, []func(), error) {
	env := &e2e{bin: filepath.Join(dir, "bin")}
	var stop []func()
	if prebuilt := os.Getenv("TUG_TEST_BIN"); prebuilt != "" {
		env.bin = prebuilt // tug and udpecho, built outside: the v2 guest has no Go (.ci/v2)
	} else if err := buildBinaries(env.bin); err != nil {
		return nil, stop, err
	}
	reg, err := registrytest.Start(mkdir(dir, "registry"), "")
	if err != nil {
		return nil, stop, err
	}
	stop = append(stop, reg.Stop)
	env.registry = reg.Addr
	hash, _ := bcrypt.GenerateFromPassword([]byte("secret"), bcrypt.MinCost)
	htpasswd := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(htpasswd, []byte("tester:"+string(hash)+"\n"), 0o600); err != nil {
		return nil, stop, err
	}
	authReg, err := registrytest.Start(mkdir(dir, "auth-registry"), htpasswd)
	if err != nil {
		return nil, stop, err
	}
	stop = append(stop, authReg.Stop)
	env.authReg = authReg.Addr
	if env.debian, err = seedDebian(env.registry); err != nil {
		return nil, stop, err
	}
	return env, stop, seed(env.registry)
}

// buildBinaries builds tug (its Kubernetes and compose helpers first,
// which it embeds, as the Makefile does) and udpecho into bin.
func buildBinaries(bin string) error {
	for _, b := range []struct{ out, pkg string }{
		{"kube/helper/tug-kube", "./kube/cmd/tug-kube"}, {"compose/helper/tug-compose", "./compose/cmd/tug-compose"}, {filepath.Join(bin, "tug"), "."}, {filepath.Join(bin, "udpecho"), "./internal/cmd/udpecho"},
	} {
		out := b.out
		build := exec.Command("go", "build", "-tags", "urfave_cli_no_docs", "-ldflags", "-s -w", "-o", out, b.pkg)
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if msg, err := build.CombinedOutput(); err != nil {
			return fmt.Errorf("build %s: %v\n%s", out, err, msg)
		}
	}
	return nil
}

func mkdir(parts ...string) string {
	d := filepath.Join(parts...)
	os.MkdirAll(d, 0o755)
	return d
}

func push(ref string, img v1.Image) error {
	r, err := name.ParseReference(ref)
	if err != nil {
		return err
	}
	if err := remote.Write(r, img); err != nil {
		return fmt.Errorf("push %s: %w", ref, err)
	}
	return nil
}

func pushIndex(ref string, imgs map[string]v1.Image) error {
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for p, img := range imgs {
		plat, _ := v1.ParsePlatform(p)
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: plat}})
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		return err
	}
	if err := remote.WriteIndex(r, idx); err != nil {
		return fmt.Errorf("push %s: %w", ref, err)
	}
	return nil
}

// seed pushes the fixtures the scripts pull.
func seed(reg string) error {
	bb, err := fixture.Busybox()
	if err != nil {
		return fmt.Errorf("busybox fixture (apt-get install busybox-static): %w", err)
	}
	bbLayers, err := bb.Layers()
	if err != nil {
		return err
	}
	host := v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
	bbHost := fixture.Image(bbLayers, []string{"sh"}, host)
	armHello := fixture.Image([]v1.Layer{fixture.Layer(fixture.Tar([]fixture.Entry{{Name: "hello", Body: "arm64\n"}}), fixture.Gzip)}, nil,
		v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"})
	armv7 := fixture.Image([]v1.Layer{fixture.Layer(fixture.Tar([]fixture.Entry{{Name: "hello", Body: "armv7\n"}}), fixture.Gzip)}, nil,
		v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"})
	return errors.Join(
		// docker.io/library/busybox is a multi-arch index, as on Docker Hub.
		pushIndex(reg+"/library/busybox:latest", map[string]v1.Image{
			"linux/" + runtime.GOARCH: bbHost, "linux/arm64/v8": armHello, "linux/arm/v7": armv7,
		}),
		push(reg+"/library/busybox:single", bbHost),
		pushIndex(reg+"/library/armonly:latest", map[string]v1.Image{"linux/arm64/v8": armHello, "linux/arm/v7": armv7}),
		push(reg+"/library/layered:latest", mutate.MediaType(layered(), types.OCIManifestSchema1)),
		push(reg+"/someuser/app:1", bbHost),
		push(reg+"/library/hostile:latest", hostile(bbHost)),
		push(reg+"/library/webapp:latest", exposing(bbHost, "80/tcp")),
		push(reg+"/library/withvolume:latest", withVolume(bbHost)),
		pushManyFiles(reg+"/library/manyfiles:latest", bbHost),
	)
}

// seedDebian pushes library/debian:12, the minbase Debian rootfs that
// .ci/run makes with debootstrap, named by $TUG_TEST_DEBIAN (a tar): the
// image of the package-manager builds. Without it those scripts skip,
// except on CI, where its absence fails the run.
func seedDebian(reg string) (bool, error) {
	path := os.Getenv("TUG_TEST_DEBIAN")
	if path == "" {
		if os.Getenv("CI") == "true" {
			return false, errors.New("TUG_TEST_DEBIAN is not set: .ci/run makes the Debian rootfs with debootstrap")
		}
		return false, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return false, fmt.Errorf("the Debian rootfs: %w", err)
	}
	img := fixture.Image([]v1.Layer{fixture.Layer(data, fixture.None)}, []string{"bash"}, v1.Platform{OS: "linux", Architecture: runtime.GOARCH})
	return true, push(reg+"/library/debian:12", img)
}

// manyFiles is how many small files the manyfiles image has in its
// VOLUME /data: enough for a copy-up to be caught midway.
const manyFiles = 4000

func pushManyFiles(ref string, bb v1.Image) error {
	img, err := fixture.SmallFiles(bb, "data", manyFiles)
	if err != nil {
		return err
	}
	return push(ref, img)
}

// withVolume is busybox with a VOLUME /data over a directory the image
// fills: a file with its own owner and mode, for copy-up.
func withVolume(bb v1.Image) v1.Image {
	data := fixture.Layer(fixture.Tar([]fixture.Entry{
		{Name: "data/", Type: tar.TypeDir, Mode: 0o750, UID: 1234, GID: 5678},
		{Name: "data/seed", Body: "from the image\n", Mode: 0o640, UID: 1234, GID: 5678},
	}), fixture.Gzip)
	img, err := mutate.AppendLayers(bb, data)
	if err != nil {
		panic(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		panic(err)
	}
	cf = cf.DeepCopy()
	cf.Config.Volumes = map[string]struct{}{"/data": {}}
	out, err := mutate.ConfigFile(img, cf)
	if err != nil {
		panic(err)
	}
	return out
}

// exposing is img with EXPOSE ports, for -P.
func exposing(img v1.Image, ports ...string) v1.Image {
	cf, err := img.ConfigFile()
	if err != nil {
		panic(err)
	}
	cf = cf.DeepCopy()
	cf.Config.ExposedPorts = map[string]struct{}{}
	for _, p := range ports {
		cf.Config.ExposedPorts[p] = struct{}{}
	}
	out, err := mutate.ConfigFile(img, cf)
	if err != nil {
		panic(err)
	}
	return out
}

// OutsidePath is a host path that the hostile image's symlinks point at;
// no container may write there.
const OutsidePath = "/tmp/tug-e2e-outside"

// hostile is busybox plus symlinks aimed at a host path: /dev/null and a
// directory that a test bind-mounts over.
func hostile(bb v1.Image) v1.Image {
	extra := fixture.Layer(fixture.Tar([]fixture.Entry{
		{Name: "dev/", Type: tar.TypeDir},
		{Name: "dev/null", Type: tar.TypeSymlink, Link: OutsidePath + "/null"},
		{Name: "proc-link", Type: tar.TypeSymlink, Link: OutsidePath},
		{Name: "mnt-out", Type: tar.TypeSymlink, Link: OutsidePath},
	}), fixture.Gzip)
	img, err := mutate.AppendLayers(bb, extra)
	if err != nil {
		panic(err)
	}
	return img
}

// layered has three layers, gzip, zstd and uncompressed, that cover
// whiteouts, opaque dirs, links, ownership, setuid and xattrs.
func layered() v1.Image {
	base := fixture.Tar([]fixture.Entry{
		{Name: "etc/", Type: tar.TypeDir},
		{Name: "etc/keep", Body: "keep\n"},
		{Name: "etc/gone", Body: "gone\n"},
		{Name: "opq/", Type: tar.TypeDir},
		{Name: "opq/old", Body: "old\n"},
		{Name: "bin/", Type: tar.TypeDir},
		{Name: "bin/suid", Body: "#!/bin/sh\n", Mode: 0o4755},
		{Name: "owned", Body: "owned\n", UID: 1234, GID: 5678, Mode: 0o640},
		{Name: "link-target", Body: "shared\n"},
		{Name: "hard", Type: tar.TypeLink, Link: "link-target"},
		{Name: "soft", Type: tar.TypeSymlink, Link: "/link-target"},
		{Name: "attr", Body: "x\n", Xattrs: map[string]string{"user.tug": "yes", "trusted.overlay.opaque": "y"}},
	})
	middle := fixture.Tar([]fixture.Entry{
		{Name: "etc/.wh.gone", Body: ""},
		{Name: "opq/.wh..wh..opq", Body: ""},
		{Name: "opq/new", Body: "new\n"},
	})
	top := fixture.Tar([]fixture.Entry{{Name: "etc/keep", Body: "kept and changed\n"}})
	return fixture.Image([]v1.Layer{
		fixture.Layer(base, fixture.Gzip),
		fixture.Layer(middle, fixture.Zstd),
		fixture.Layer(top, fixture.None),
	}, []string{"/bin/sh"}, v1.Platform{})
}

func TestScripts(t *testing.T) {
	env := needE2E(t)
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "debian":
				return env.debian, nil
			case "emulated": // the v2 guest, under qemu's software emulation (.ci/v2)
				return os.Getenv("TUG_TEST_EMULATED") != "", nil
			case "systemd": // systemd is PID 1 (the v2 guest)
				return systemdBooted(), nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Setup: func(e *testscript.Env) error {
			e.Setenv("PATH", env.bin+string(os.PathListSeparator)+os.Getenv("PATH"))
			e.Setenv("REGISTRY", env.registry)
			e.Setenv("AUTH_REGISTRY", env.authReg)
			e.Setenv("DOCKER_CONFIG", filepath.Join(e.WorkDir, ".docker"))
			e.Setenv("TUG_CONFIG", filepath.Join(e.WorkDir, "config.toml"))
			e.Setenv("STORE", filepath.Join(e.WorkDir, "store"))
			e.Setenv("OUTSIDE", OutsidePath)
			e.Setenv("BIN", env.bin)
			// a script that fails half-way must not leave containers,
			// monitors, veths or rules behind
			cfgPath := filepath.Join(e.WorkDir, "config.toml")
			e.Defer(func() { removeAll(env.bin, cfgPath) })
			cfg := fmt.Sprintf(`[storage]
root = %q
runroot = %q

[registries]
insecure = [%q, %q]

[registries.mirrors]
# a dead mirror first: pulls must fall through to the next one
"docker.io" = ["127.0.0.1:1", %q]
`, filepath.Join(e.WorkDir, "store"), filepath.Join(e.WorkDir, "run"), env.registry, env.authReg, env.registry)
			return os.WriteFile(filepath.Join(e.WorkDir, "config.toml"), []byte(cfg), 0o644)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"nostaging": cmdNoStaging,
			"xattr":     cmdXattr,
			"udpsend":   cmdUDPSend,
			"peer":      cmdPeer,
			"code":      cmdCode,
		},
	})
}

// cmdNoStaging checks that no staging dir or temp blob is left in the
// store named by $STORE.
func cmdNoStaging(ts *testscript.TestScript, neg bool, args []string) {
	root := ts.Getenv("STORE")
	var left []string
	for _, d := range []string{"layers/.staging", "blobs/.tmp"} {
		entries, _ := os.ReadDir(filepath.Join(root, d))
		for _, e := range entries {
			left = append(left, d+"/"+e.Name())
		}
	}
	if (len(left) > 0) != neg {
		ts.Fatalf("staging left: %s", strings.Join(left, ", "))
	}
}

// cmdXattr checks that some file matching a glob has an xattr value:
// xattr GLOB NAME VALUE.
func cmdXattr(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: xattr GLOB NAME VALUE")
	}
	matches, _ := filepath.Glob(args[0])
	found := false
	buf := make([]byte, 256)
	for _, m := range matches {
		if n, err := unix.Lgetxattr(m, args[1], buf); err == nil && string(buf[:n]) == args[2] {
			found = true
		}
	}
	if found == neg {
		ts.Fatalf("xattr %s=%s on %s (%d files): found %v", args[1], args[2], args[0], len(matches), found)
	}
}

// TestPullKilled kills tug with SIGKILL at several points of a pull,
// each in a fresh store: right away, while a layer is being unpacked,
// once the first layer is committed, and while two processes pull at
// once. After each kill the store must be usable and show no half layer;
// the next pull must complete and leave no staging behind.
func TestPullKilled(t *testing.T) {
	env := needE2E(t)
	if err := push(env.registry+"/library/big:latest", fixture.Big(6, 16<<20, 1)); err != nil {
		t.Fatal(err)
	}
	count := func(dir string) int {
		entries, _ := os.ReadDir(dir)
		n := 0
		for _, e := range entries {
			if !strings.HasPrefix(e.Name(), ".") {
				n++
			}
		}
		return n
	}
	points := map[string]func(root string) bool{
		"at once": func(string) bool { return true },
		"mid-unpack": func(root string) bool {
			return count(filepath.Join(root, "layers", ".staging"))+count(filepath.Join(root, "blobs", ".tmp")) > 0
		},
		"after the first layer":    func(root string) bool { return count(filepath.Join(root, "layers")) > 0 },
		"after the first blob":     func(root string) bool { return count(filepath.Join(root, "blobs", "sha256")) > 0 },
		"with a second puller too": func(root string) bool { return count(filepath.Join(root, "layers")) > 1 },
	}
	for point, ready := range points {
		t.Run(point, func(t *testing.T) {
			work := t.TempDir()
			root := filepath.Join(work, "store")
			cfg := fmt.Sprintf("[storage]\nroot = %q\nrunroot = %q\n[registries.mirrors]\n\"docker.io\" = [%q]\n",
				root, filepath.Join(work, "run"), env.registry)
			if err := os.WriteFile(filepath.Join(work, "config.toml"), []byte(cfg), 0o644); err != nil {
				t.Fatal(err)
			}
			tug := func(args ...string) *exec.Cmd {
				cmd := exec.Command(filepath.Join(env.bin, "tug"), args...)
				cmd.Env = append(os.Environ(), "TUG_CONFIG="+filepath.Join(work, "config.toml"))
				return cmd
			}
			victim := tug("pull", "-q", "big")
			if err := victim.Start(); err != nil {
				t.Fatal(err)
			}
			var other *exec.Cmd
			if strings.Contains(point, "second") {
				other = tug("pull", "-q", "big")
				other.Start()
			}
			done := make(chan error, 1)
			go func() { done <- victim.Wait() }()
			// Loop until the victim has ended, killing it at the point;
			// its end is received once, here, whichever comes first.
			killed, ended := false, false
			for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && !ended; time.Sleep(time.Millisecond) {
				if !killed && ready(root) {
					victim.Process.Kill()
					killed = true
				}
				select {
				case err := <-done:
					ended = true
					if !killed {
						t.Logf("pull ended (%v) before the kill point", err)
					}
				default:
				}
			}
			if !ended {
				victim.Process.Kill()
				<-done
			}
			if other != nil {
				if err := other.Wait(); err != nil {
					t.Errorf("the other puller failed when its peer was killed: %v", err)
				}
			}
			t.Logf("killed %s: %d layers committed", point, count(filepath.Join(root, "layers")))
			if out, err := tug("images").CombinedOutput(); err != nil {
				t.Fatalf("store unusable after the kill: %v\n%s", err, out)
			}
			layers, _ := os.ReadDir(filepath.Join(root, "layers"))
			for _, l := range layers {
				if _, err := os.Stat(filepath.Join(root, "layers", l.Name(), "layer.json")); err != nil && l.Name() != ".staging" {
					t.Errorf("layer %s visible without its record", l.Name())
				}
			}
			if out, err := tug("pull", "-q", "big").CombinedOutput(); err != nil {
				t.Fatalf("pull after the kill: %v\n%s", err, out)
			}
			out, err := tug("images", "--format", "{{.Repository}}:{{.Tag}} {{.Size}}").Output()
			if err != nil || !strings.Contains(string(out), "docker.io/library/big:latest 101MB") {
				t.Errorf("image after the kill: %q %v", out, err)
			}
			for _, d := range []string{"layers/.staging", "blobs/.tmp"} {
				if left, _ := os.ReadDir(filepath.Join(root, d)); len(left) > 0 {
					t.Errorf("%s still has %d entries", d, len(left))
				}
			}
		})
	}
}

// TestPullDiskFull pulls into a store on a 40 MiB tmpfs: the pull of a
// larger image must fail with one clear line, leave no staging, and keep
// the images already there usable.
func TestPullDiskFull(t *testing.T) {
	env := needE2E(t)
	if err := push(env.registry+"/library/bigger:latest", fixture.Big(2, 32<<20, 2)); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	if err := unix.Mount("tmpfs", root, "tmpfs", 0, "size=40m"); err != nil {
		t.Skipf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(root, unix.MNT_DETACH) })
	cfg := filepath.Join(t.TempDir(), "config.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("[storage]\nroot = %q\nrunroot = %q\n[registries.mirrors]\n\"docker.io\" = [%q]\n",
		filepath.Join(root, "store"), filepath.Join(root, "run"), env.registry)), 0o644)
	tug := func(args ...string) ([]byte, error) {
		cmd := exec.Command(filepath.Join(env.bin, "tug"), args...)
		cmd.Env = append(os.Environ(), "TUG_CONFIG="+cfg)
		return cmd.CombinedOutput()
	}
	if out, err := tug("pull", "-q", "busybox"); err != nil {
		t.Fatalf("small pull: %v\n%s", err, out)
	}
	out, err := tug("pull", "-q", "bigger")
	if err == nil {
		t.Fatal("pull into a full disk succeeded")
	}
	t.Logf("%s", out)
	if lines := strings.Split(strings.TrimSpace(string(out)), "\n"); len(lines) != 1 || !strings.Contains(lines[0], "no space left on device") {
		t.Errorf("want one line naming the full disk, got:\n%s", out)
	}
	for _, d := range []string{"store/layers/.staging", "store/blobs/.tmp"} {
		if left, _ := os.ReadDir(filepath.Join(root, d)); len(left) > 0 {
			t.Errorf("%s has %d entries after the failed pull", d, len(left))
		}
	}
	if out, err := tug("images", "--format", "{{.Repository}}"); err != nil || strings.TrimSpace(string(out)) != "docker.io/library/busybox" {
		t.Errorf("images after the failed pull: %q %v", out, err)
	}
}

// cmdCode runs a command and checks its exit code, keeping its output
// for stdout and stderr: code N PROG ARGS...
func cmdCode(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 || neg {
		ts.Fatalf("usage: code N PROG [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("code: %v", err)
	}
	got := 0
	var exit *exec.ExitError
	if err := ts.Exec(args[1], args[2:]...); errors.As(err, &exit) {
		got = exit.ExitCode()
	} else if err != nil {
		ts.Fatalf("code: %v", err)
	}
	if got != want {
		ts.Fatalf("%s exited %d, want %d", strings.Join(args[1:], " "), got, want)
	}
}

// cmdUDPSend sends one datagram and prints the answer, if one comes
// within a second: udpsend HOST:PORT TEXT.
func cmdUDPSend(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: udpsend HOST:PORT TEXT")
	}
	// A server that is not listening yet (a slow machine) drops the
	// datagram: try again, from a new socket, for 5 s; none is awaited
	// once only.
	deadline := time.Now().Add(5 * time.Second)
	for {
		answer, err := udpRoundTrip(args[0], args[1])
		if neg || err == nil || time.Now().After(deadline) {
			if (err != nil) != neg {
				ts.Fatalf("udpsend: answer %q, %v", answer, err)
			}
			ts.Stdout().Write(append(answer, '\n'))
			return
		}
	}
}

// udpRoundTrip sends text to addr and waits a second for an answer.
func udpRoundTrip(addr, text string) ([]byte, error) {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if _, err := c.Write([]byte(text)); err != nil {
		return nil, err
	}
	c.SetReadDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 1024)
	n, err := c.Read(buf)
	return buf[:n], err
}

// cmdPeer connects to a TCP address and prints both ends as the socket
// sees them: "local=IP remote=IP:PORT". When tug's connect(2) redirect
// took the connection, the local end is the bridge's gateway (the socket
// went straight to the container) while the peer is still the address
// dialled. peer HOST:PORT.
func cmdPeer(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: peer HOST:PORT")
	}
	local, remote, err := dialEnds(args[0])
	if (err != nil) != neg {
		ts.Fatalf("peer %s: %v", args[0], err)
	}
	fmt.Fprintf(ts.Stdout(), "local=%s remote=%s\n", local, remote)
}

// dialEnds dials addr over TCP and returns the local IP and the peer.
func dialEnds(addr string) (string, string, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return "", "", err
	}
	defer c.Close()
	return c.LocalAddr().(*net.TCPAddr).IP.String(), c.RemoteAddr().String(), nil
}

// removeAll force-removes every pod and container of the store a config
// names.
func removeAll(bin, cfg string) {
	tug := func(args ...string) *exec.Cmd {
		cmd := exec.Command(filepath.Join(bin, "tug"), args...)
		cmd.Env = append(os.Environ(), "TUG_CONFIG="+cfg)
		return cmd
	}
	if out, _ := tug("pod", "ls", "-q", "--no-trunc").Output(); len(out) > 0 {
		tug(append([]string{"pod", "rm", "-f", "-t", "0"}, strings.Fields(string(out))...)...).Run()
	}
	out, _ := tug("ps", "-aq", "--no-trunc").Output()
	if ids := strings.Fields(string(out)); len(ids) > 0 {
		tug(append([]string{"rm", "-f"}, ids...)...).Run()
	}
	tug("network", "prune", "-f").Run() // bridges and rules are host-wide
}
