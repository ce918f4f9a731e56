package run

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"

	seccompbpf "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"tug/store"
)

// Seccomp profiles come as docker's JSON (github.com/moby/profiles
// resolves a profile's cap-, arch- and kernel-dependent rules for the
// container), are compiled here in pure Go to classic BPF with
// github.com/elastic/go-seccomp-bpf (argument filters included), once,
// when the container is created, and the child loads the program just
// before it drops to the container's user and execs.

// cachedSeccomp is compileSeccomp with the default profile's programs
// kept in the store's cache, keyed by everything they depend on: the
// caps, the kernel release (rules have minimum kernels), the arch and the
// versions of the profile data and the compiler. Compiling costs about a
// millisecond in a fresh tug process; reading the cache, a few µs.
func cachedSeccomp(cacheDir, profile string, caps []string) (bpfProgram, error) {
	if profile != "" {
		return compileSeccomp(profile, caps)
	}
	var u unix.Utsname
	unix.Uname(&u)
	key := sha256.New()
	fmt.Fprintf(key, "%s\n%s\n%s\n", strings.Join(caps, ","), unix.ByteSliceToString(u.Release[:]), runtime.GOARCH)
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if strings.Contains(d.Path, "seccomp") {
				fmt.Fprintf(key, "%s@%s\n", d.Path, d.Version)
			}
		}
	}
	file := filepath.Join(cacheDir, "seccomp-"+hex.EncodeToString(key.Sum(nil))[:32]+".json")
	var prog bpfProgram
	if b, err := os.ReadFile(file); err == nil && json.Unmarshal(b, &prog) == nil && len(prog) > 0 {
		return prog, nil
	}
	prog, err := compileSeccomp(profile, caps)
	if err != nil {
		return nil, err
	}
	if b, err := json.Marshal(prog); err == nil && os.MkdirAll(cacheDir, 0o700) == nil {
		store.WriteFileAtomic(file, b, 0o600) // a cache: failing to keep it costs only time
	}
	return prog, nil
}

// compileSeccomp compiles a profile: "" is docker's default,
// "unconfined" none (nil), anything else a JSON file.
func compileSeccomp(profile string, caps []string) (bpfProgram, error) {
	if profile == "unconfined" {
		return nil, nil
	}
	rs := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: caps}}}
	var sc *specs.LinuxSeccomp
	var err error
	if profile == "" {
		sc, err = seccomp.GetDefaultProfile(rs)
	} else {
		var body []byte
		if body, err = os.ReadFile(profile); err == nil {
			sc, err = seccomp.LoadProfile(string(body), rs)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("seccomp profile %s: %w", profileName(profile), err)
	}
	prog, err := assemble(sc)
	if err != nil {
		return nil, fmt.Errorf("seccomp profile %s: %w", profileName(profile), err)
	}
	return prog, nil
}

func profileName(p string) string {
	if p == "" {
		return "default"
	}
	return p
}

// assemble turns a resolved profile into BPF: one group of rules per
// action, so a syscall whose argument conditions fail in one group goes
// on to the next and finally to the default action.
func assemble(sc *specs.LinuxSeccomp) (bpfProgram, error) {
	info, err := arch.GetInfo(runtime.GOARCH)
	if err != nil {
		return nil, err
	}
	def, err := action(sc.DefaultAction, sc.DefaultErrnoRet)
	if err != nil {
		return nil, err
	}
	if def&unix.SECCOMP_RET_ACTION_FULL == unix.SECCOMP_RET_ERRNO && def&unix.SECCOMP_RET_DATA != uint32(unix.EPERM) {
		return nil, fmt.Errorf("default errno %d: only EPERM is supported as the default", def&unix.SECCOMP_RET_DATA)
	}
	groups := map[uint32]map[string][]seccompbpf.ArgumentConditions{}
	for _, rule := range sc.Syscalls {
		act, err := action(rule.Action, rule.ErrnoRet)
		if err != nil {
			return nil, err
		}
		conds, err := conditions(rule.Args)
		if err != nil {
			return nil, fmt.Errorf("%v: %w", rule.Names, err)
		}
		if groups[act] == nil {
			groups[act] = map[string][]seccompbpf.ArgumentConditions{}
		}
		for _, name := range rule.Names {
			if _, known := info.SyscallNames[name]; !known {
				continue // not on this architecture, or newer than the table
			}
			groups[act][name] = append(groups[act][name], conds)
		}
	}
	policy := seccompbpf.Policy{DefaultAction: seccompbpf.ActionErrno}
	if def&unix.SECCOMP_RET_ACTION_FULL != unix.SECCOMP_RET_ERRNO {
		policy.DefaultAction = seccompbpf.Action(def)
	}
	acts := make([]uint32, 0, len(groups))
	for a := range groups {
		acts = append(acts, a)
	}
	sort.Slice(acts, func(i, j int) bool { return acts[i] < acts[j] })
	for _, a := range acts {
		g := seccompbpf.SyscallGroup{Action: seccompbpf.Action(a)}
		names := make([]string, 0, len(groups[a]))
		for n := range groups[a] {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			if anyUnconditional(groups[a][n]) {
				g.Names = append(g.Names, n)
				continue
			}
			for _, c := range groups[a][n] {
				g.NamesWithCondtions = append(g.NamesWithCondtions, seccompbpf.NameWithConditions{Name: n, Conditions: c})
			}
		}
		policy.Syscalls = append(policy.Syscalls, g)
	}
	insts, err := policy.Assemble()
	if err != nil {
		return nil, err
	}
	raw, err := bpf.Assemble(insts)
	if err != nil {
		return nil, err
	}
	out := make(bpfProgram, len(raw))
	for i, r := range raw {
		out[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	return out, nil
}

func anyUnconditional(cs []seccompbpf.ArgumentConditions) bool {
	for _, c := range cs {
		if len(c) == 0 {
			return true
		}
	}
	return false
}

// action maps an OCI action to the kernel's return value.
func action(a specs.LinuxSeccompAction, errno *uint) (uint32, error) {
	switch a {
	case specs.ActAllow:
		return unix.SECCOMP_RET_ALLOW, nil
	case specs.ActErrno:
		e := uint32(unix.EPERM)
		if errno != nil {
			e = uint32(*errno)
		}
		return unix.SECCOMP_RET_ERRNO | e, nil
	case specs.ActKill, specs.ActKillThread:
		return unix.SECCOMP_RET_KILL_THREAD, nil
	case specs.ActKillProcess:
		return unix.SECCOMP_RET_KILL_PROCESS, nil
	case specs.ActTrap:
		return unix.SECCOMP_RET_TRAP, nil
	case specs.ActLog:
		return unix.SECCOMP_RET_LOG, nil
	case specs.ActTrace:
		return unix.SECCOMP_RET_TRACE | uint32(unix.EPERM), nil
	}
	return 0, fmt.Errorf("unsupported action %q", a)
}

// conditions maps OCI argument checks (ANDed) to the compiler's.
func conditions(args []specs.LinuxSeccompArg) (seccompbpf.ArgumentConditions, error) {
	ops := map[specs.LinuxSeccompOperator]seccompbpf.Operation{
		specs.OpEqualTo: seccompbpf.Equal, specs.OpNotEqual: seccompbpf.NotEqual,
		specs.OpLessThan: seccompbpf.LessThan, specs.OpLessEqual: seccompbpf.LessOrEqual,
		specs.OpGreaterThan: seccompbpf.GreaterThan, specs.OpGreaterEqual: seccompbpf.GreaterOrEqual,
	}
	var out seccompbpf.ArgumentConditions
	for _, a := range args {
		c := seccompbpf.Condition{Argument: uint32(a.Index), Value: a.Value}
		switch {
		case a.Op == specs.OpMaskedEqual && a.ValueTwo == 0:
			c.Operation = seccompbpf.BitsNotSet // (arg & mask) == 0
		case a.Op == specs.OpMaskedEqual && a.ValueTwo == a.Value:
			c.Operation = seccompbpf.BitsSet // (arg & mask) == mask
		case ops[a.Op] != "":
			c.Operation = ops[a.Op]
		default:
			return nil, fmt.Errorf("argument check %s with value %d, %d cannot be compiled", a.Op, a.Value, a.ValueTwo)
		}
		out = append(out, c)
	}
	return out, nil
}
