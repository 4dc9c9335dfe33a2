//go:build !linux

package main

import "os/exec"

// dieWithParent is a no-op outside Linux: node processes exit when their
// stdin closes, which happens when this process exits.
func dieWithParent(cmd *exec.Cmd) {}
