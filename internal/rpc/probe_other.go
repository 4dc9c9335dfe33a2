//go:build !unix

package rpc

// peek cannot look at a socket here; a connection closed by its peer is
// found when a call on it fails.
func (p *socketProbe) peek(uintptr) bool { return true }

func peekClosed(rawErr error, n int, err error) (closed, known bool) { return false, false }
