//go:build !unix

package proc

import "os/exec"

// OwnGroup does nothing where process groups are not available.
func OwnGroup(cmd *exec.Cmd) {}
