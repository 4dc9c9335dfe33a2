//go:build unix

package main

import (
	"os/exec"
	"syscall"
)

// ownProcessGroup puts a node in its own process group, so that Ctrl-C in
// the terminal reaches only this command, which then stops the nodes one at
// a time (each hands its sessions to the ones still running).
func ownProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}
