package run

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"tug/internal/smallfile"
)

// procStat returns a process's state letter (R, S, Z…) and its start
// time in clock ticks after boot (fields 3 and 22 of /proc/PID/stat); the
// start time tells a pid from its reuse.
func procStat(pid int) (byte, uint64, error) {
	b, err := smallfile.Read("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// comm (field 2) may hold spaces and parens: split after the last ')'
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	fields := strings.Fields(string(b[i+1:]))
	if len(fields) < 20 || len(fields[0]) != 1 {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	start, err := strconv.ParseUint(fields[19], 10, 64)
	return fields[0][0], start, err
}

// procStart returns a process's start time in clock ticks after boot.
func procStart(pid int) (uint64, error) {
	_, start, err := procStat(pid)
	return start, err
}

// bootID identifies this boot: pids and start times mean nothing across
// a reboot.
func bootID() string { return thisBoot() }

// thisBoot reads the boot ID once: it is the same for as long as the
// process lives, and the API's ps asked for it once per container.
var thisBoot = sync.OnceValue(func() string {
	b, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	return strings.TrimSpace(string(b))
})

// sameProcess tells whether pid still is the live process that started
// at start, in this boot. A zombie is dead: it only waits to be reaped.
func sameProcess(pid int, start uint64, boot string) bool {
	if pid <= 0 || boot != bootID() {
		return false
	}
	state, got, err := procStat(pid)
	return err == nil && got == start && state != 'Z' && state != 'X'
}

// pidfd opens a pidfd for pid and checks, after opening, that it is the
// process that started at start: signals through the fd can then never
// reach a process that reused the pid.
func pidfd(pid int, start uint64, boot string) (int, error) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return -1, err
	}
	if !sameProcess(pid, start, boot) {
		unix.Close(fd)
		return -1, unix.ESRCH
	}
	return fd, nil
}

// waitExit waits up to timeout (forever if negative) for the process
// behind a pidfd to exit, and reports whether it did.
func waitExit(fd int, timeout time.Duration) bool {
	ms := -1
	if timeout >= 0 {
		ms = int(timeout / time.Millisecond)
	}
	deadline := time.Now().Add(timeout)
	for {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, ms)
		if err == unix.EINTR {
			if timeout >= 0 {
				ms = max(int(time.Until(deadline)/time.Millisecond), 0)
			}
			continue
		}
		return err == nil && n > 0
	}
}
