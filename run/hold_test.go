package run

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestHoldFlags: a held container makes the namespaces it does not
// share with the host, and never a pid or user namespace.
func TestHoldFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want int
	}{
		{"bridge", Config{Network: "bridge"}, unix.CLONE_NEWNET | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS},
		{"none", Config{Network: "none"}, unix.CLONE_NEWNET | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS},
		{"host network", Config{Network: "host"}, unix.CLONE_NEWIPC | unix.CLONE_NEWUTS},
		{"host ipc and uts", Config{Network: "pasta", Spec: Spec{HostIPC: true, HostUTS: true}}, unix.CLONE_NEWNET},
	} {
		if got := holdFlags(&tc.cfg); got != tc.want {
			t.Errorf("%s: flags %#x, want %#x", tc.name, got, tc.want)
		}
	}
}
