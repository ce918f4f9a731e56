package main

import (
	"fmt"
	"os/exec"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"tug/internal/fixture"
)

// copyUpFiles is how many small files the copy-up figure's image holds
// in its VOLUME directory.
const copyUpFiles = 20000

// benchCopyUp times `run --rm --network none -v NEW:/data IMAGE true`
// over an image directory of copyUpFiles small files: the volume's
// create, the copy of the files into it, the start. tug and podman
// alternate, each run with a volume of its own, in stores of their own.
func benchCopyUp(tug, dir, reg string, runs int) error {
	ref, err := pushCopyUpImage(reg)
	if err != nil {
		return err
	}
	root := mkdir(dir, "copyup")
	engines := []engine{{name: "tug", bin: tug, global: []string{"--root", mkdir(root, "tug-root"), "--runroot", mkdir(root, "tug-run")}}}
	if p, err := podmanEngine(root, reg+"/library/busybox:latest"); err != nil {
		fmt.Printf("podman:                   %s; no copy-up comparison\n", err)
	} else {
		engines = append(engines, p)
	}
	secs := make([][]float64, len(engines))
	for i := range runs {
		for j, e := range engines {
			if i == 0 {
				if out, err := e.cmd(append(append([]string{"pull", "-q"}, e.pullArgs...), ref)...).CombinedOutput(); err != nil {
					return fmt.Errorf("%s pull: %v: %s", e.name, err, out)
				}
			}
			s, err := copyUpOnce(e, ref, fmt.Sprintf("copyup%d", i))
			if err != nil {
				return err
			}
			secs[j] = append(secs[j], s)
		}
	}
	for j, e := range engines {
		fmt.Printf("%-7s run -v NEW:/data over %d files (create, copy-up, start): %7.1f ms  (median of %d)\n", e.name, copyUpFiles, medianOf(secs[j])*1000, runs)
	}
	if len(engines) == 2 {
		fmt.Printf("tug/podman: volume copy-up %.3f (target ≤ 0.5)\n", medianOf(secs[0])/medianOf(secs[1]))
	}
	return nil
}

// copyUpOnce times one run with the new volume vol. Dirty pages are
// flushed first, so that no run pays for the last one's writeback.
func copyUpOnce(e engine, ref, vol string) (float64, error) {
	syscall.Sync()
	start := time.Now()
	if out, err := exec.Command(e.bin, e.run("--rm", "--network", "none", "-v", vol+":/data", ref, "true")...).CombinedOutput(); err != nil {
		return 0, fmt.Errorf("%s run -v: %v: %s", e.name, err, out)
	}
	return time.Since(start).Seconds(), nil
}

// pushCopyUpImage pushes busybox with a VOLUME /data of copyUpFiles
// small files, and returns its reference.
func pushCopyUpImage(reg string) (string, error) {
	bb, err := fixture.Busybox()
	if err != nil {
		return "", err
	}
	img, err := fixture.SmallFiles(bb, "data", copyUpFiles)
	if err != nil {
		return "", err
	}
	ref := reg + "/library/copyup:latest"
	tag, err := name.NewTag(ref)
	if err != nil {
		return "", err
	}
	if err := remote.Write(tag, img); err != nil {
		return "", fmt.Errorf("push: %w", err)
	}
	return ref, nil
}
