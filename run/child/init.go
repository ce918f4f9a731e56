package child

// tug-init: started in new mnt, pid, uts, ipc, net and cgroup namespaces
// (clone flags, so it never runs a single instruction outside them), it
// reads its Spec, builds the rootfs (rootfs.go, mounts.go, dev.go),
// pivots into it, drops privileges (creds.go) and execs the entrypoint
// as pid 1, or with --init the reaper. It runs on one locked OS thread
// throughout: credentials, capabilities and the working directory set
// here must be those of the thread that calls execve.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"

	"tug/internal/phase"
	"tug/run/childspec"
)

// Init is the main of the re-exec child. It never returns: it execs the
// entrypoint or, with --init, stays as pid 1 until the entrypoint exits.
func Init() {
	runtime.LockOSThread()
	// prctl(2) PR_SET_PDEATHSIG: the container dies with the thread that
	// forked it. Go's fork sets it too, but not for a child cloned into
	// another pid namespace (--pid container:C), where its check of
	// getppid(2) would kill the child; a parent dead before this line
	// closed the spec pipe, and the child stops at its read.
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		os.Exit(125)
	}
	phases := phase.Open("child") // make bench's marks; nil without TUG_PHASES
	phases.Mark("main")
	fds := inherited()
	err := initContainer(fds, phases)
	WriteStatus(os.NewFile(uintptr(fds.sync()), "sync"), err)
	os.Exit(ErrorCode(err))
}

func initContainer(fds childFDs, phases *phase.Recorder) error {
	spec, placed, err := readSpec(fds.spec())
	if err != nil {
		return err
	}
	phases.Mark("spec")
	// Another container's network (--network container:C) first, before
	// sysfs is mounted, so that /sys/class/net shows that namespace's
	// links; its IPC namespace (--ipc container:C) before /dev/mqueue,
	// which belongs to it, is mounted.
	if spec.JoinNetNS {
		if err := joinThrough(fds.extra(), unix.CLONE_NEWNET, "the network"); err != nil {
			return err
		}
	}
	if spec.IPCFD != 0 {
		if err := joinThrough(spec.IPCFD, unix.CLONE_NEWIPC, "the IPC namespace"); err != nil {
			return err
		}
	}
	if spec.UTSFD != 0 {
		if err := joinThrough(spec.UTSFD, unix.CLONE_NEWUTS, "the UTS namespace"); err != nil {
			return err
		}
	}
	if err := enterCgroup(spec); err != nil {
		return err
	}
	// Nothing but stdio may cross into the container: mark every other
	// fd close-on-exec, the spec and sync pipes included, and whatever
	// the runtime or a library opened.
	if err := unix.CloseRange(uint(fds.spec()), ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return fmt.Errorf("mark fds close-on-exec: %w", err)
	}
	// --init execs tug again as the reaper once the rootfs is built:
	// this fd reaches tug's read-only mount (protectedSelf) after
	// pivot_root too.
	self := -1
	if spec.Init {
		if self, err = unix.Open("/proc/self/exe", unix.O_PATH|unix.O_CLOEXEC, 0); err != nil {
			return fmt.Errorf("open tug for --init: %w", err)
		}
	}
	// File modes below are exact; the container gets docker's umask.
	unix.Umask(0)
	phases.Mark("namespaces")
	if err := buildRootfs(spec); err != nil {
		return err
	}
	phases.Mark("rootfs")
	// umask(2): the container's processes create files with it
	if spec.Umask != nil {
		unix.Umask(int(*spec.Umask))
	} else {
		unix.Umask(0o022)
	}
	// sethostname(2) in the container's UTS namespace; never in the
	// host's, nor in one it joined (--uts container:C), whose hostname is C's
	if !spec.HostUTS && spec.UTSFD == 0 {
		if err := unix.Sethostname([]byte(spec.Hostname)); err != nil {
			return fmt.Errorf("set hostname: %w", err)
		}
	}
	if !spec.HostNetwork && !spec.JoinNetNS {
		if err := LoopbackUp(); err != nil {
			return err
		}
	}
	if err := awaitRelease(spec, placed); err != nil {
		return err
	}
	phases.Mark("released")
	if spec.Tty {
		if err := setupConsole(spec); err != nil {
			return err
		}
	}
	phases.Mark("exec")
	return execEntrypoint(spec, self, fds)
}

// joinThrough moves this thread, the one that mounts and execs, into
// the namespace of kind flag (what, in errors) of the process whose
// pidfd is pidfd, and closes it.
func joinThrough(pidfd int, flag int, what string) error {
	// setns(2) on a pidfd: the namespace of exactly the process the
	// parent checked, never of one that reused its pid.
	if err := unix.Setns(pidfd, flag); err != nil {
		return fmt.Errorf("join %s of the container: %w", what, err)
	}
	return unix.Close(pidfd)
}

// readSpec reads the spec and returns it with the rest of the pipe, on
// which the parent says when the child's network is plumbed.
func readSpec(fd int) (*childspec.Spec, io.Reader, error) {
	f := os.NewFile(uintptr(fd), "spec")
	dec := json.NewDecoder(f)
	var spec childspec.Spec
	if err := dec.Decode(&spec); err != nil {
		return nil, nil, fmt.Errorf("read container spec: %w", err)
	}
	return &spec, io.MultiReader(dec.Buffered(), f), nil
}

// enterCgroup moves this thread, the one that will exec, into the
// container's v1 cgroups, then makes them the root of its cgroup
// namespace. A thread that moves itself (writing 0 to "tasks") skips the
// kernel's global threadgroup lock, whose RCU grace period costs a move
// by another process several ms; at exec the whole process is this
// thread, in those cgroups. (On v2 the child was cloned into its
// cgroup and namespace already.)
func enterCgroup(spec *childspec.Spec) error {
	for _, tasks := range spec.CgroupTasks {
		if err := os.WriteFile(tasks, []byte("0"), 0); err != nil {
			return fmt.Errorf("enter cgroup %s: %w", filepath.Dir(tasks), err)
		}
	}
	if !spec.UnshareCgroup {
		return nil
	}
	if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
		return fmt.Errorf("new cgroup namespace: %w", err)
	}
	return nil
}

// awaitRelease waits, when told to, until the parent has plumbed the
// container's network. Nothing of the container has run yet.
func awaitRelease(spec *childspec.Spec, placed io.Reader) error {
	if !spec.Release {
		return nil
	}
	// skip what follows the JSON (the encoder's newline) up to the byte
	for b := [1]byte{}; b[0] != 1; {
		if _, err := io.ReadFull(placed, b[:]); err != nil {
			return fmt.Errorf("wait for the network: %w", err)
		}
	}
	return nil
}

// LoopbackUp brings lo up in the calling thread's fresh network
// namespace: the container's, or that of a monitor's holder thread.
func LoopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("bring lo up: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	ifr.SetUint16(unix.IFF_UP | unix.IFF_LOOPBACK | unix.IFF_RUNNING)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring lo up: %w", err)
	}
	return nil
}

// execEntrypoint resolves the user and the command inside the container,
// drops privileges and execs it, or with --init execs the reaper (tug
// at self) that starts it.
func execEntrypoint(spec *childspec.Spec, self int, fds childFDs) error {
	id, err := containerUser(spec.User, spec.GroupAdd)
	if err != nil {
		return fail(125, "%s", err)
	}
	env := withHome(spec.Env, id.Home)
	if err := enterWorkdir(spec.Cwd); err != nil {
		return err
	}
	exe := "" // a pod's infra container starts nothing
	if !spec.Pause {
		if exe, err = lookPath(spec.Args[0], env); err != nil {
			return err
		}
	}
	if err := dropCapabilities(spec.Caps); err != nil {
		return err
	}
	if err := processSettings(spec); err != nil {
		return err
	}
	if spec.NoNewPrivs {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("set no_new_privs: %w", err)
		}
	}
	// Seccomp goes on last but for the user switch and the exec, which
	// the profiles allow; with CAP_SYS_ADMIN still effective it needs no
	// no_new_privs.
	if err := loadSeccomp(spec.Seccomp); err != nil {
		return err
	}
	if spec.Init {
		// tug's init stays root, with the allowed set only; the
		// entrypoint gets the user through the fork's credentials.
		if err := setCaps(spec.Caps, true); err != nil {
			return err
		}
		return execReaper(self, fds, reaperSpec{Exe: exe, Args: spec.Args, Env: env, ID: id, Tty: spec.Tty, Pause: spec.Pause})
	}
	if err := setIdentity(id, spec.Caps); err != nil {
		return err
	}
	err = unix.Exec(exe, spec.Args, env)
	return execError(spec.Args[0], err)
}

// processSettings applies --ulimit and --oom-score-adj to this process,
// which the entrypoint inherits.
func processSettings(spec *childspec.Spec) error {
	if err := setRlimits(spec.Rlimits); err != nil {
		return err
	}
	if spec.OOMScoreAdj != 0 {
		if err := os.WriteFile("/proc/self/oom_score_adj", []byte(strconv.Itoa(spec.OOMScoreAdj)), 0); err != nil {
			return fail(125, "--oom-score-adj: %s", err)
		}
	}
	return nil
}

// setRlimits applies --ulimit to this process: setrlimit(2), which
// what it execs inherits.
func setRlimits(rs []childspec.Rlimit) error {
	for _, r := range rs {
		if err := unix.Setrlimit(r.Resource, &unix.Rlimit{Cur: r.Soft, Max: r.Hard}); err != nil {
			var cur unix.Rlimit
			unix.Getrlimit(r.Resource, &cur)
			return fail(125, "--ulimit: cannot set limit %d to %d:%d (the hard limit here is %d): %s", r.Resource, r.Soft, r.Hard, cur.Max, err)
		}
	}
	return nil
}

// enterWorkdir changes to the working dir, creating it if missing, as
// docker does for -w.
func enterWorkdir(dir string) error {
	if dir == "" {
		dir = "/"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail(125, "working directory %s: %s", dir, errors.Unwrap(err))
	}
	if err := unix.Chdir(dir); err != nil {
		return fail(125, "working directory %s: %s", dir, err)
	}
	return nil
}
