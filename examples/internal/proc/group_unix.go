//go:build unix

package proc

import (
	"os/exec"
	"syscall"
)

// OwnGroup puts cmd's process in a process group of its own, so that Ctrl-C
// in a terminal reaches only this process, which can then stop its children
// one at a time. Where there are no process groups it does nothing.
func OwnGroup(cmd *exec.Cmd) {
	sysProcAttr(cmd).Setpgid = true
}

// sysProcAttr returns cmd.SysProcAttr, allocating it if nil, so that the
// options above combine.
func sysProcAttr(cmd *exec.Cmd) *syscall.SysProcAttr {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	return cmd.SysProcAttr
}
