package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
)

// benchRootless times `run --rm --network none busybox true` as an
// unprivileged user with subordinate ranges, for tug and rootless podman,
// each with a store of its own in a home made for the run. The user is
// the one make test creates (tugrl) unless -rootless-user names another.
func benchRootless(tug, ref, name string, starts int) error {
	u, err := user.Lookup(name)
	if err != nil {
		fmt.Printf("rootless:                 no user %s (make test creates tugrl, or pass -rootless-user); skipped\n", name)
		return nil
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	base, err := os.MkdirTemp("", "tug-bench-rootless")
	if err != nil {
		return err
	}
	defer os.RemoveAll(base)
	os.Chmod(base, 0o755)
	home, runtime := filepath.Join(base, "home"), filepath.Join(base, "run")
	for _, d := range []string{home, runtime} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return err
		}
		if err := os.Chown(d, uid, gid); err != nil {
			return err
		}
	}
	b, err := os.ReadFile(tug)
	if err != nil {
		return err
	}
	tugCopy := filepath.Join(base, "tug")
	if err := os.WriteFile(tugCopy, b, 0o755); err != nil {
		return err
	}
	as := func(args ...string) []string {
		return append([]string{"--reuid", name, "--regid", name, "--init-groups", "env", "-i",
			"HOME=" + home, "XDG_RUNTIME_DIR=" + runtime, "PATH=/usr/local/bin:/usr/bin:/bin"}, args...)
	}
	if out, err := exec.Command("setpriv", as(tugCopy, "pull", "-q", ref)...).CombinedOutput(); err != nil {
		return fmt.Errorf("rootless tug pull: %v: %s", err, out)
	}
	t, err := latency(starts, "setpriv", as(tugCopy, "run", "--rm", "--network", "none", ref, "true")...)
	if err != nil {
		return fmt.Errorf("rootless tug run: %w", err)
	}
	fmt.Printf("tug     rootless run --rm --network none true %6.1f ms  (median of %d, as %s)\n", t*1000, starts, name)
	if _, err := exec.LookPath("podman"); err != nil {
		return nil
	}
	defer exec.Command("setpriv", as("podman", "system", "reset", "-f")...).Run()
	if out, err := exec.Command("setpriv", as("podman", "pull", "-q", "--tls-verify=false", ref)...).CombinedOutput(); err != nil {
		fmt.Printf("podman  rootless: pull failed (%s); no comparison\n", firstLine(string(out)))
		return nil
	}
	run := []string{"podman", "run", "--rm", "--network", "none", ref, "true"}
	if out, err := exec.Command("setpriv", as(run...)...).CombinedOutput(); err != nil {
		if _, lerr := exec.LookPath("runc"); lerr != nil {
			fmt.Printf("podman  rootless: run failed (%s); on a hybrid cgroup host, apt-get install runc; no comparison\n", firstLine(string(out)))
			return nil
		}
		fmt.Printf("podman's default runtime failed rootless (%s); using runc\n", firstLine(string(out)))
		run = []string{"podman", "run", "--rm", "--runtime", "runc", "--network", "none", ref, "true"}
	}
	p, err := latency(starts, "setpriv", as(run...)...)
	if err != nil {
		// podman failing is a missing comparison, not a failed bench.
		fmt.Printf("podman  rootless: run failed (%v); no comparison\n", err)
		return nil
	}
	fmt.Printf("podman  rootless run --rm --network none true %6.1f ms  (median of %d)\n", p*1000, starts)
	fmt.Printf("tug/podman rootless: start %.3f (target ≤ 0.1)\n", t/p)
	return nil
}
