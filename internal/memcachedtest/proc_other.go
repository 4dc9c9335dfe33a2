//go:build !linux

package memcachedtest

import "os/exec"

// setParentDeathSignal is a no-op where the kernel has no parent-death
// signal; t.Cleanup still stops the process on a normal exit.
func setParentDeathSignal(*exec.Cmd) {}
