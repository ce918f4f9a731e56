package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// waitFor polls cond every millisecond for up to d.
// killOnceMade starts cmd and kills it with -9 as soon as the path it
// renames its object to (what) exists, and fails the test if cmd was
// done before that.
func killOnceMade(t *testing.T, cmd *exec.Cmd, path, what string) {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if !waitFor(10*time.Second, func() bool { _, err := os.Stat(path); return err == nil }) {
		t.Fatalf("%s never renamed its object away", what)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s finished before the kill: %v", what, err)
	}
}

func waitFor(d time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if cond() {
			return true
		}
	}
	return false
}

// TestRemoveKilled: kill -9 of tug rm while it deletes the container's
// files leaves the renamed tree and the lock file; the next tug that
// lists containers removes both.
func TestRemoveKilled(t *testing.T) {
	se := newStoreEnv(t, needE2E(t))
	out, err := se.tug("run", "-d", "busybox", "sh", "-c", "mkdir /d && cd /d && seq 1 6000 | xargs touch && sleep 60").Output()
	if err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSpace(string(out))
	upper := filepath.Join(se.root, "containers", id, "upper", "d")
	if !waitFor(30*time.Second, func() bool { n, _ := os.ReadDir(upper); return len(n) == 6000 }) {
		t.Fatal("the container did not make its files")
	}
	if out, err := se.tug("stop", "-t", "0", id).CombinedOutput(); err != nil {
		t.Fatalf("stop: %v\n%s", err, out)
	}
	trash := filepath.Join(se.root, "containers", ".rm-"+id)
	lock := filepath.Join(se.root, "locks", "container-"+id+".lock")
	killOnceMade(t, se.tug("rm", id), trash, "rm")
	if out, err := se.tug("ps", "-a").CombinedOutput(); err != nil || strings.Contains(string(out), id[:12]) {
		t.Fatalf("ps -a after the kill: %v\n%s", err, out)
	}
	for _, p := range []string{trash, lock} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s left after the next listing", p)
		}
	}
}

// TestLoadKilled: kill -9 of tug load while it reads the archive leaves
// its temp dir; the next tug that needs one removes it.
func TestLoadKilled(t *testing.T) {
	se := newStoreEnv(t, needE2E(t))
	archive := filepath.Join(t.TempDir(), "bb.tar")
	if out, err := se.tug("save", "-o", archive, "busybox").CombinedOutput(); err != nil {
		t.Fatalf("save: %v\n%s", err, out)
	}
	data, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	load := se.tug("load")
	stdin, err := load.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := load.Start(); err != nil {
		t.Fatal(err)
	}
	stdin.Write(data[:len(data)/2]) // then nothing: tug waits for the rest
	tmp := filepath.Join(se.root, "tmp")
	if !waitFor(10*time.Second, func() bool { m, _ := filepath.Glob(filepath.Join(tmp, "t*", "archive.tar")); return len(m) == 1 }) {
		t.Fatal("load made no temp archive")
	}
	load.Process.Kill()
	load.Wait()
	stdin.Close()
	left, _ := os.ReadDir(tmp)
	if len(left) != 1 {
		t.Fatalf("after the kill tmp/ holds %d entries, want the dead load's", len(left))
	}
	again := se.tug("load", "-i", archive)
	again.Stdout = io.Discard
	if err := again.Run(); err != nil {
		t.Fatalf("load after the kill: %v", err)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("tmp/ still holds %d entries", len(left))
	}
}

// TestVolumeRmRacesRun: volume rm and a create that mounts the same
// volume, at once, many times: either the volume is in use (rm refused)
// or it is gone and the create made it again; never a container whose
// volume directory is missing.
func TestVolumeRmRacesRun(t *testing.T) {
	se := newStoreEnv(t, needE2E(t))
	for i := 0; i < 15; i++ {
		name := fmt.Sprintf("race%d", i)
		if out, err := se.tug("volume", "create", name).CombinedOutput(); err != nil {
			t.Fatalf("volume create: %v\n%s", err, out)
		}
		rm, create := se.tug("volume", "rm", name), se.tug("create", "-v", name+":/d", "busybox", "true")
		var ctrOut []byte
		done := make(chan struct{})
		go func() { ctrOut, _ = create.Output(); close(done) }()
		rm.Run()
		<-done
		id := strings.TrimSpace(string(ctrOut))
		if id == "" {
			continue // the create failed cleanly
		}
		if _, err := os.Stat(filepath.Join(se.root, "volumes", name, "_data")); err != nil {
			t.Fatalf("round %d: container %s mounts volume %s, whose data is gone: %v", i, id[:12], name, err)
		}
		se.tug("rm", id).Run()
	}
}

// mustTug runs a tug command that must succeed and returns its output.
func (se *storeEnv) mustTug(args ...string) string {
	se.t.Helper()
	out, err := se.tug(args...).CombinedOutput()
	if err != nil {
		se.t.Fatalf("tug %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestVolumeCreateKilled: kill -9 of volume create and of a run that
// creates its volume, at instants spread over their whole run: the
// store never lists a volume without its data, and the next create of
// the same name gives a volume a container can write.
func TestVolumeCreateKilled(t *testing.T) {
	se := newStoreEnv(t, needE2E(t))
	for i := range 30 {
		name := fmt.Sprintf("k%d", i)
		cmd := se.tug("volume", "create", name)
		if i%2 == 1 {
			cmd = se.tug("run", "--rm", "-v", name+":/d", "busybox", "true")
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(i%15) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()
		for _, v := range strings.Fields(se.mustTug("volume", "ls", "-q")) {
			if _, err := os.Stat(filepath.Join(se.root, "volumes", v, "_data")); err != nil {
				t.Fatalf("round %d: volume %s listed without its data: %v", i, v, err)
			}
		}
		se.mustTug("volume", "create", name)
		se.mustTug("run", "--rm", "-v", name+":/d", "busybox", "touch", "/d/x")
	}
	if left, _ := os.ReadDir(filepath.Join(se.root, "volumes", ".tmp")); len(left) > 0 {
		t.Errorf("volumes/.tmp holds %d entries after the last create", len(left))
	}
	se.tug("container", "prune", "-f").Run()
	se.mustTug("volume", "prune", "-af")
}

// TestCopyUpKilled: kill -9 of a run while it copies the image's files
// into a new volume; the next container on the volume finds every file,
// copied again from an empty volume, never a half copy taken for whole.
func TestCopyUpKilled(t *testing.T) {
	se := newStoreEnv(t, needE2E(t))
	se.mustTug("pull", "-q", "manyfiles")
	data := filepath.Join(se.root, "volumes", "cu", "_data")
	run := se.tug("run", "--rm", "-v", "cu:/data", "manyfiles", "true")
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	if !waitFor(30*time.Second, func() bool { n, _ := os.ReadDir(filepath.Join(data, "d001")); return len(n) > 0 }) {
		t.Fatal("the copy-up never began")
	}
	run.Process.Kill()
	run.Wait()
	if n, _ := os.ReadDir(filepath.Join(data, fmt.Sprintf("d%03d", manyFiles/100-1))); len(n) == 100 {
		t.Fatal("the copy-up ended before the kill")
	}
	out := se.mustTug("run", "--rm", "-v", "cu:/data", "manyfiles", "sh", "-c", "find /data -type f | wc -l")
	if got := strings.TrimSpace(out); got != fmt.Sprint(manyFiles) {
		t.Fatalf("after the kill the volume holds %s files, want %d", got, manyFiles)
	}
	if _, err := os.Stat(filepath.Join(se.root, "volumes", "cu", "copying")); err == nil {
		t.Error("the copy-up mark outlived a whole copy")
	}
	se.mustTug("container", "prune", "-f") // the killed run's container
	se.mustTug("volume", "rm", "cu")
}

// TestVolumeRmKilled: kill -9 of volume rm while it deletes the files;
// the volume is gone for the next command, which sweeps what is left,
// and the name can be used again.
func TestVolumeRmKilled(t *testing.T) {
	se := newStoreEnv(t, needE2E(t))
	se.mustTug("run", "--rm", "-v", "big:/d", "busybox", "sh", "-c", "cd /d && seq 1 6000 | xargs touch")
	trash := filepath.Join(se.root, "volumes", ".rm-big")
	killOnceMade(t, se.tug("volume", "rm", "big"), trash, "volume rm")
	if out := se.mustTug("volume", "ls", "-q"); strings.Contains(out, "big") {
		t.Fatalf("volume ls after the kill lists it:\n%s", out)
	}
	if _, err := os.Stat(trash); err == nil {
		t.Error("the killed rm's files outlived the next listing")
	}
	out := se.mustTug("run", "--rm", "-v", "big:/d", "busybox", "sh", "-c", "ls /d | wc -l")
	if strings.TrimSpace(out) != "0" {
		t.Errorf("the volume made again holds %s files", out)
	}
	se.mustTug("volume", "rm", "big")
}

// TestBuildKilled: kill -9 of tug build while a RUN runs leaves no
// running container and no mount of the store, records nothing for the
// killed step, and the next build takes the steps that were whole from
// the cache and runs the rest.
func TestBuildKilled(t *testing.T) {
	se := newStoreEnv(t, needE2E(t))
	ctx := t.TempDir()
	os.WriteFile(filepath.Join(ctx, "a.txt"), []byte("a\n"), 0o644)
	os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte("FROM busybox\nCOPY a.txt /a.txt\nARG WAIT=60\nRUN sleep $WAIT && echo done > /done\n"), 0o644)
	build := se.tug("build", "-t", "killed", ctx)
	if err := build.Start(); err != nil {
		t.Fatal(err)
	}
	running := func() bool { out, _ := se.tug("ps", "-q").Output(); return len(strings.TrimSpace(string(out))) > 0 }
	if !waitFor(30*time.Second, running) {
		build.Process.Kill()
		t.Fatal("the RUN never started")
	}
	build.Process.Kill()
	build.Wait()
	if !waitFor(10*time.Second, func() bool { return !running() }) {
		t.Fatal("a RUN's container outlived the killed build")
	}
	for _, l := range se.leftovers() {
		if strings.HasPrefix(l, "mount:") || strings.HasPrefix(l, "process:") {
			t.Errorf("after the kill: %s", l)
		}
	}
	out := se.mustTug("build", "--build-arg", "WAIT=0", "-t", "killed", ctx)
	if strings.Count(out, "--> CACHED") != 1 || !strings.Contains(out, "STEP 4/4: RUN sleep $WAIT && echo done > /done\n--> done") {
		t.Fatalf("the build after the kill: want the COPY cached and the RUN run:\n%s", out)
	}
	if got := se.mustTug("run", "--rm", "killed", "cat", "/a.txt", "/done"); got != "a\ndone\n" {
		t.Errorf("the image built after the kill holds %q", got)
	}
}

// TestBuildInterrupted: Ctrl-C (SIGINT) of tug build mid-RUN ends the
// step's command and the build, exit 1, and leaves no container, no
// mount of the store and no record for the step.
func TestBuildInterrupted(t *testing.T) {
	se := newStoreEnv(t, needE2E(t))
	ctx := t.TempDir()
	os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte("FROM busybox\nRUN sleep 60\n"), 0o644)
	build := se.tug("build", ctx)
	if err := build.Start(); err != nil {
		t.Fatal(err)
	}
	running := func() bool { out, _ := se.tug("ps", "-q").Output(); return len(strings.TrimSpace(string(out))) > 0 }
	if !waitFor(30*time.Second, running) {
		build.Process.Kill()
		t.Fatal("the RUN never started")
	}
	start := time.Now()
	build.Process.Signal(os.Interrupt)
	err := build.Wait()
	if code := build.ProcessState.ExitCode(); err == nil || code != 1 {
		t.Fatalf("build after SIGINT: %v, exit %d; want 1", err, code)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the build took %v to stop", d)
	}
	if out, _ := se.tug("ps", "-aq").Output(); len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("containers left: %s", out)
	}
	for _, l := range se.leftovers() {
		t.Errorf("after SIGINT: %s", l)
	}
	if recs, _ := filepath.Glob(filepath.Join(se.root, "buildcache", "[0-9a-f]*")); len(recs) > 0 {
		t.Errorf("a record for the interrupted step: %v", recs)
	}
}
