// Package run creates and runs containers: it turns options and an image
// into a childspec.Spec, starts the re-exec child that builds the
// container from it (package run/child, the code on the container's side
// of its namespaces), keeps it (the monitor), and proxies its terminal,
// signals, logs and exit code.
package run

import "tug/run/childspec"

// The spec that crosses the pipe to the re-exec child is childspec's;
// the parent builds it under these names.
type (
	// Spec is childspec.Spec: a container for tug-init.
	Spec = childspec.Spec
	// Mount is a bind mount from the host into the container.
	Mount = childspec.Mount
	// Tmpfs is a tmpfs mounted in the container.
	Tmpfs = childspec.Tmpfs
	// Rlimit is one --ulimit.
	Rlimit = childspec.Rlimit
	// Device is a host device node made in the container's /dev.
	Device = childspec.Device
	// bpfProgram is a compiled seccomp filter.
	bpfProgram = childspec.BPF
	// execSpec is a command for tug-exec.
	execSpec = childspec.Exec
)
