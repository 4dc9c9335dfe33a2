package proc

import (
	"os/exec"
	"syscall"
)

// DieWithParent makes the kernel kill cmd's process with SIGKILL when this
// process dies, so that an interrupted run leaves no children behind.
// Outside Linux it does nothing.
func DieWithParent(cmd *exec.Cmd) {
	sysProcAttr(cmd).Pdeathsig = syscall.SIGKILL
}
