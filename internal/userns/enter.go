package userns

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// syncEnv tells the child of Enter which fd to wait on for its maps.
const syncEnv = "_TUG_USERNS_SYNC"

// ErrSetup marks a host that is not set up for rootless use; its text
// says what is missing and how to fix it.
var ErrSetup = errors.New("rootless setup")

// Account is the user tug runs for, with its subordinate ranges.
type Account struct {
	Name             string
	UID, GID         int
	SubUIDs, SubGIDs []SubRange
}

// Self reads the account of the calling user.
func Self() (Account, error) {
	a := Account{UID: os.Getuid(), GID: os.Getgid(), Name: strconv.Itoa(os.Getuid())}
	if u, err := user.LookupId(a.Name); err == nil {
		a.Name = u.Username
	}
	var err error
	if a.SubUIDs, err = ReadSubIDs("/etc/subuid", a.Name, a.UID); err != nil {
		return a, fmt.Errorf("read /etc/subuid: %w", err)
	}
	if a.SubGIDs, err = ReadSubIDs("/etc/subgid", a.Name, a.UID); err != nil {
		return a, fmt.Errorf("read /etc/subgid: %w", err)
	}
	return a, nil
}

// NoRangeWarning is the one line a user without subordinate ranges sees.
func (a Account) NoRangeWarning() string {
	return fmt.Sprintf("warning: no /etc/subuid or /etc/subgid range for %s: running with a single ID; "+
		"files of other owners in images belong to root (fix: sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 %s)", a.Name, a.Name)
}

// MapHelper finds newuidmap or newgidmap and checks that it can do its
// job: it must be setuid root or carry file capabilities.
func MapHelper(name string) (string, error) {
	path, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%w: %s not found: install it (sudo apt-get install uidmap)", ErrSetup, name)
	}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrSetup, path, err)
	}
	if st.Mode&unix.S_ISUID != 0 && st.Uid == 0 {
		return path, nil
	}
	if _, err := unix.Getxattr(path, "security.capability", nil); err == nil {
		return path, nil
	}
	return "", fmt.Errorf("%w: %s is neither setuid root nor given capabilities: sudo chmod u+s %s (or reinstall uidmap)", ErrSetup, path, path)
}

// Enter runs this tug again, with the same arguments, in a new user
// namespace mapped for acc, and exits with its status. It returns only
// when the namespace could not be made; the error says why and how to
// fix it. warn receives the single-ID warning. The first keep fds from
// 3 on (those tug inherited) reach the new tug where they were.
func Enter(acc Account, warn func(string), keep int) error {
	m := Plan(acc.UID, acc.GID, acc.SubUIDs, acc.SubGIDs)
	var helpers [2]string
	if m.Single {
		warn(acc.NoRangeWarning())
	} else {
		for i, name := range []string{"newuidmap", "newgidmap"} {
			p, err := MapHelper(name)
			if err != nil {
				return err
			}
			helpers[i] = p
		}
	}
	// By path, not /proc/self/exe: that magic link would carry the
	// binary's mount in the host's mount namespace into the new one,
	// where tug cannot clone it (run/exe.go).
	self, err := os.Executable()
	if err != nil {
		return err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	// The child execs tug at once, unmapped, which would clear its
	// capabilities; raised as ambient ones first, they survive the exec.
	// tug starts while the maps are written, and waits for them (Continue).
	cmd := exec.Command(self, os.Args[1:]...)
	cmd.Args[0] = os.Args[0]
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.ExtraFiles = append(inheritedFiles(keep), r)
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", syncEnv, 3+keep))
	caps, err := allCaps()
	if err != nil {
		return err
	}
	// Pdeathsig: should the user's tug be killed, the namespace's goes
	// too, as a root tug would with its container
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWUSER | unix.CLONE_NEWNS, AmbientCaps: caps, Pdeathsig: unix.SIGKILL}
	err = cmd.Start()
	r.Close()
	if err != nil {
		w.Close()
		return Disabled(err)
	}
	if err := writeMaps(cmd.Process.Pid, m, helpers); err != nil {
		w.Close()
		cmd.Process.Kill()
		cmd.Wait()
		return err
	}
	w.Write([]byte{1})
	w.Close()
	os.Exit(wait(cmd))
	return nil
}

// Join runs this tug again, with the same arguments, in the user
// namespace of process pid (a running container's, made by another tug)
// and a mount namespace of its own, and exits with its status. A
// multi-threaded Go process can join neither, so nsenter and unshare
// (util-linux) do, and exec tug, which starts as the namespace's root.
// Only the user that owns the namespace may.
func Join(pid, keep int) error {
	var tools [2]string
	for i, name := range []string{"nsenter", "unshare"} {
		p, err := exec.LookPath(name)
		if err != nil {
			return fmt.Errorf("%w: %s not found (util-linux)", ErrSetup, name)
		}
		tools[i] = p
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	args := append([]string{fmt.Sprintf("--user=/proc/%d/ns/user", pid), "--", tools[1], "--mount", "--", self}, os.Args[1:]...)
	cmd := exec.Command(tools[0], args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.ExtraFiles = inheritedFiles(keep) // nsenter and unshare pass them on
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: unix.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("join the user namespace of %d: %w", pid, err)
	}
	os.Exit(wait(cmd))
	return nil
}

// inheritedFiles are fds 3 to 3+n-1, which tug inherited, to hand on.
func inheritedFiles(n int) []*os.File {
	out := make([]*os.File, n)
	for i := range out {
		out[i] = os.NewFile(uintptr(3+i), fmt.Sprintf("inherited-%d", 3+i))
	}
	return out
}

// Disabled explains why the kernel refused a user namespace.
func Disabled(err error) error {
	if b, _ := os.ReadFile("/proc/sys/user/max_user_namespaces"); strings.TrimSpace(string(b)) == "0" {
		return fmt.Errorf("%w: user namespaces are disabled (user.max_user_namespaces = 0): sudo sysctl -w user.max_user_namespaces=28633", ErrSetup)
	}
	if b, _ := os.ReadFile("/proc/sys/kernel/unprivileged_userns_clone"); strings.TrimSpace(string(b)) == "0" {
		return fmt.Errorf("%w: unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone = 0): sudo sysctl -w kernel.unprivileged_userns_clone=1", ErrSetup)
	}
	if b, _ := os.ReadFile("/proc/sys/kernel/apparmor_restrict_unprivileged_userns"); strings.TrimSpace(string(b)) == "1" {
		return fmt.Errorf("%w: AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns = 1): give tug an AppArmor profile with 'userns,' or sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0", ErrSetup)
	}
	return fmt.Errorf("%w: create a user namespace: %v", ErrSetup, err)
}

// writeMaps gives the child its ID maps.
func writeMaps(pid int, m Map, helpers [2]string) error {
	if m.Single {
		dir := "/proc/" + strconv.Itoa(pid) + "/"
		for _, f := range []struct{ name, text string }{{"setgroups", "deny"}, {"uid_map", render(m.UIDs)}, {"gid_map", render(m.GIDs)}} {
			if err := os.WriteFile(dir+f.name, []byte(f.text), 0); err != nil {
				return fmt.Errorf("user namespace: write %s: %w", f.name, err)
			}
		}
		return nil
	}
	// both at once: each is a setuid exec of its own
	errs := make(chan error, 2)
	for i, rs := range [][]Range{m.UIDs, m.GIDs} {
		args := []string{strconv.Itoa(pid)}
		for _, r := range rs {
			args = append(args, strconv.Itoa(int(r.Inside)), strconv.Itoa(int(r.Outside)), strconv.Itoa(int(r.Count)))
		}
		go func() {
			out, err := exec.Command(helpers[i], args...).CombinedOutput()
			if err != nil {
				err = fmt.Errorf("%w: %s %s: %v: %s (check the ranges in /etc/subuid and /etc/subgid)",
					ErrSetup, helpers[i], strings.Join(args, " "), err, strings.TrimSpace(string(out)))
			}
			errs <- err
		}()
	}
	return errors.Join(<-errs, <-errs)
}

// wait forwards signals to the child until it exits, and returns the
// exit status to pass on: its code, or 128 + the signal that ended it.
// A terminal's ^C and ^\ reach the child's process group by themselves,
// so those two are forwarded only when stdin is not a terminal.
func wait(cmd *exec.Cmd) int {
	sigs := []os.Signal{unix.SIGTERM, unix.SIGHUP, unix.SIGUSR1, unix.SIGUSR2}
	if term.IsTerminal(0) {
		signal.Ignore(unix.SIGINT, unix.SIGQUIT)
	} else {
		sigs = append(sigs, unix.SIGINT, unix.SIGQUIT)
	}
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, sigs...)
	go func() {
		for s := range ch {
			cmd.Process.Signal(s)
		}
	}()
	err := cmd.Wait()
	signal.Stop(ch)
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	if err != nil {
		return 125
	}
	return 0
}

// Continue is the child's half of Enter, called first thing in main: it
// waits until the parent has written the maps (or has failed, and said
// why). It returns at once in any other process.
func Continue() {
	fd := os.Getenv(syncEnv)
	if fd == "" {
		return
	}
	os.Unsetenv(syncEnv)
	n, _ := strconv.Atoi(fd)
	f := os.NewFile(uintptr(n), "userns-sync")
	var b [1]byte
	if k, _ := f.Read(b[:]); k != 1 {
		os.Exit(125)
	}
	f.Close()
}

// allCaps lists every capability this kernel has.
func allCaps() ([]uintptr, error) {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return nil, fmt.Errorf("read cap_last_cap: %w", err)
	}
	last, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("cap_last_cap: %w", err)
	}
	caps := make([]uintptr, last+1)
	for i := range caps {
		caps[i] = uintptr(i)
	}
	return caps, nil
}
