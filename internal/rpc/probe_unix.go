//go:build unix

package rpc

import (
	"errors"
	"os"
	"syscall"
)

// peek looks at the socket without waiting for data (Go's sockets are
// non-blocking) and without consuming it.
func (p *socketProbe) peek(fd uintptr) bool {
	p.n, _, p.err = syscall.Recvfrom(int(fd), p.buf[:], syscall.MSG_PEEK)
	return true // never wait for readability
}

// peekClosed interprets a peek: end of stream or a reset means the peer
// closed the socket; pending data (a late reply, a TLS session ticket) or
// nothing yet means it did not. rawErr is the error of RawConn.Read itself,
// which refuses to run once the read deadline has passed: then nothing is
// known.
func peekClosed(rawErr error, n int, err error) (closed, known bool) {
	switch {
	case errors.Is(rawErr, os.ErrDeadlineExceeded):
		return false, false
	case rawErr != nil: // the descriptor is closed
		return true, true
	case err == nil:
		return n == 0, true
	}
	return !errors.Is(err, syscall.EAGAIN) && !errors.Is(err, syscall.EINTR), true
}
