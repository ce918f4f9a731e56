package cgroups

import (
	"fmt"
	"math"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// On cgroup v2 the device policy is a BPF program of type
// CGROUP_DEVICE attached to the container's cgroup: the kernel calls it
// on every open or mknod of a device node, with a bpf_cgroup_dev_ctx
//
//	u32 access_type  device type (1 block, 2 char) | access (1 mknod, 2 read, 4 write) << 16
//	u32 major, minor
//
// and allows the access if it returns 1. github.com/cilium/ebpf builds
// and loads the program: it is the maintained pure-Go BPF library.

const (
	bpfDevBlock = 1
	bpfDevChar  = 2
	bpfAccMknod = 1
	bpfAccRead  = 2
	bpfAccWrite = 4
)

// deviceProgram compiles rules into the instructions of a device filter.
func deviceProgram(rules []DeviceRule) (asm.Instructions, error) {
	insts := asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, 0, asm.Word), // access_type
		asm.Mov.Reg(asm.R3, asm.R2),
		asm.And.Imm(asm.R2, 0xffff),              // R2 = type
		asm.RSh.Imm(asm.R3, 16),                  // R3 = access
		asm.LoadMem(asm.R4, asm.R1, 4, asm.Word), // major
		asm.LoadMem(asm.R5, asm.R1, 8, asm.Word), // minor
	}
	for i, r := range rules {
		next := fmt.Sprintf("rule%d", i+1)
		var checks asm.Instructions
		switch r.Type {
		case 'a':
		case 'c':
			checks = append(checks, asm.JNE.Imm(asm.R2, bpfDevChar, next))
		case 'b':
			checks = append(checks, asm.JNE.Imm(asm.R2, bpfDevBlock, next))
		default:
			return nil, fmt.Errorf("device rule %s: unknown type", r)
		}
		var allowed int32
		for _, a := range r.Access {
			allowed |= map[rune]int32{'m': bpfAccMknod, 'r': bpfAccRead, 'w': bpfAccWrite}[a]
		}
		if allowed != bpfAccMknod|bpfAccRead|bpfAccWrite {
			// any access bit outside the allowed ones: next rule
			checks = append(checks, asm.Mov.Reg(asm.R0, asm.R3), asm.And.Imm(asm.R0, ^allowed&0x7), asm.JNE.Imm(asm.R0, 0, next))
		}
		if r.Major >= 0 {
			if r.Major > math.MaxInt32 {
				return nil, fmt.Errorf("device rule %s: bad major", r)
			}
			checks = append(checks, asm.JNE.Imm(asm.R4, int32(r.Major), next))
		}
		if r.Minor >= 0 {
			if r.Minor > math.MaxInt32 {
				return nil, fmt.Errorf("device rule %s: bad minor", r)
			}
			checks = append(checks, asm.JNE.Imm(asm.R5, int32(r.Minor), next))
		}
		matchesAll := len(checks) == 0
		checks = append(checks, asm.Mov.Imm(asm.R0, 1), asm.Return())
		if i > 0 {
			checks[0] = checks[0].WithSymbol(fmt.Sprintf("rule%d", i))
		}
		insts = append(insts, checks...)
		if matchesAll {
			// nothing after a rule that allows everything is reachable,
			// and the verifier refuses unreachable instructions
			return insts, nil
		}
	}
	deny := asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()}
	if len(rules) > 0 {
		deny[0] = deny[0].WithSymbol(fmt.Sprintf("rule%d", len(rules)))
	}
	return append(insts, deny...), nil
}

// attachDevices loads the device filter for rules and attaches it to the
// cgroup dir fd; it stays attached as long as the cgroup exists.
func attachDevices(dirFD int, rules []DeviceRule) error {
	insts, err := deviceProgram(rules)
	if err != nil {
		return err
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.CGroupDevice, Instructions: insts, License: "Apache-2.0"})
	if err != nil {
		return fmt.Errorf("load device filter: %w", err)
	}
	defer prog.Close()
	err = link.RawAttachProgram(link.RawAttachProgramOptions{Target: dirFD, Program: prog, Attach: ebpf.AttachCGroupDevice, Flags: unix.BPF_F_ALLOW_MULTI})
	if err != nil {
		return fmt.Errorf("attach device filter: %w", err)
	}
	return nil
}
