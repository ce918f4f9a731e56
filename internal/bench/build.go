package main

import (
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
)

// buildFiles and buildFileBytes make the build figure's context: about
// 20,000 files and 200 MB.
const (
	buildFiles     = 20000
	buildFileBytes = 10 << 10
)

// benchBuild times a 3-stage build over that context, tug build against
// podman build --layers, each in a store of its own: cold, again with
// no change, and after one source file changes; with the builder's peak
// RSS.
func benchBuild(tug, dir, reg string) error {
	root := mkdir(dir, "build")
	ctx, err := buildContext(mkdir(root, "ctx"), reg+"/library/busybox:latest")
	if err != nil {
		return err
	}
	engines := []engine{{name: "tug", bin: tug, global: []string{"--root", mkdir(root, "tug-root"), "--runroot", mkdir(root, "tug-run")}}}
	if p, err := podmanEngine(root, reg+"/library/busybox:latest"); err != nil {
		fmt.Printf("podman:                   %s; no build comparison\n", err)
	} else {
		p.runArgs = append(p.runArgs, "--layers", "--tls-verify=false")
		engines = append(engines, p)
	}
	phases := []struct {
		name   string
		before func() error
	}{
		{"cold", func() error { return nil }},
		{"no change", func() error { return nil }},
		{"one file changed", func() error {
			return os.WriteFile(filepath.Join(ctx, "src", "d100", "f00050"), []byte("changed\n"), 0o644)
		}},
	}
	times := map[string][]result{}
	for _, ph := range phases {
		if err := ph.before(); err != nil {
			return err
		}
		for _, e := range engines {
			args := append(append(append([]string{}, e.global...), "build", "-q", "-t", "benchbuild"), e.buildArgs()...)
			dropCaches()
			r, err := timed(exec.Command(e.bin, append(args, ctx)...))
			if err != nil {
				return fmt.Errorf("%s build (%s): %w", e.name, ph.name, err)
			}
			times[e.name] = append(times[e.name], r)
			fmt.Printf("%-7s build, %-16s %7.2f s  peak RSS %6.1f MB\n", e.name, ph.name+":", r.secs, r.rssMB)
		}
	}
	if len(engines) == 2 {
		t, p := times["tug"], times["podman"]
		fmt.Printf("tug/podman build: cold %.3f (target ≤ 0.5), no change %.3f (≤ 0.1), one file changed %.3f (≤ 0.33)\n",
			t[0].secs/p[0].secs, t[1].secs/p[1].secs, t[2].secs/p[2].secs)
	}
	return nil
}

// dropCaches empties the page cache before a timed build, so that each
// tool starts cold and neither pays for the other's deletions: this VM's
// journal-less ext4 creates files slowly for minutes where many were
// just deleted, as long as their inode blocks stay cached.
func dropCaches() {
	syscall.Sync()
	os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0o200)
}

// buildArgs are the flags a build takes from the engine's run flags
// (podman's runtime and limits).
func (e engine) buildArgs() []string {
	if e.name == "tug" {
		return nil
	}
	return e.runArgs
}

// buildContext writes the context: src/ of buildFiles files of random
// bytes, 100 to a directory, and a 3-stage Dockerfile over it.
func buildContext(ctx, base string) (string, error) {
	buf := make([]byte, 1<<20)
	rand.Read(buf)
	for i := range buildFiles {
		d := filepath.Join(ctx, "src", fmt.Sprintf("d%03d", i/100))
		if i%100 == 0 {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return "", err
			}
		}
		off := (i * 7919) % (len(buf) - buildFileBytes)
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("f%05d", i%100)), buf[off:off+buildFileBytes], 0o644); err != nil {
			return "", err
		}
	}
	dockerfile := fmt.Sprintf(`FROM %[1]s AS build
COPY src/ /src/
RUN find /src -type f | wc -l > /count && md5sum /src/d000/f00000 > /sum
FROM %[1]s AS tools
RUN mkdir -p /opt/tools && echo tool > /opt/tools/t
FROM %[1]s
COPY --from=build /count /sum /app/
COPY --from=tools /opt/tools /opt/tools
COPY src/ /app/src/
CMD ["cat", "/app/count"]
`, base)
	return ctx, os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte(dockerfile), 0o644)
}
