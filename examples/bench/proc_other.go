//go:build !linux

package main

import "os/exec"

// dieWithParent is a no-op outside Linux: children of node processes exit
// when their stdin closes, and servers are killed on the normal exit paths.
func dieWithParent(cmd *exec.Cmd) {}
