//go:build !linux

package proc

import "os/exec"

// DieWithParent does nothing outside Linux: there children leave when their
// stdin closes, which happens when this process exits.
func DieWithParent(cmd *exec.Cmd) {}
