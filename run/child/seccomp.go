package child

import (
	"fmt"
	"tug/run/childspec"
	"unsafe"

	"golang.org/x/sys/unix"
)

// loadSeccomp installs prog on the calling thread, which must be the one
// that execs; with it nothing the container runs can escape the filter.
func loadSeccomp(prog childspec.BPF) error {
	if len(prog) == 0 {
		return nil
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if _, _, e := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&fprog))); e != 0 {
		return fmt.Errorf("load seccomp filter: %w", e)
	}
	return nil
}
