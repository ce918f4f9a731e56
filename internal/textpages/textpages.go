// Package textpages lets a long-lived tug process (a monitor, a pod's
// pause) give back the pages of tug's binary that its start-up touched.
package textpages

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Drop lets go of the pages of tug's binary mapped in this process: it
// then keeps only the few it needs to wait. They are clean, read-only
// file pages, so MADV_DONTNEED only unmaps them from this process (the
// page cache keeps them, shared with every other tug) and the kernel
// faults back any that are used again.
func Drop() {
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return
	}
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || f[5] != exe || (f[1] != "r-xp" && f[1] != "r--p") {
			continue
		}
		var start, end uintptr
		if _, err := fmt.Sscanf(f[0], "%x-%x", &start, &end); err != nil {
			continue
		}
		unix.Syscall(unix.SYS_MADVISE, start, end-start, unix.MADV_DONTNEED)
	}
}
