package memcachedtest

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal makes the kernel kill memcached if the test binary
// dies without running its cleanups, so no orphan keeps the port.
func setParentDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
