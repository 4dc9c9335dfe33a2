package memnet

import (
	"net"
	"syscall"
)

// Errors reported by memnet. They are the errno values a TCP/UDP stack
// reports for the same situations, so code that inspects real network errors
// (errors.Is(err, syscall.ECONNREFUSED), net.Error.Timeout) behaves the same
// on memnet. Every error returned by Dial, Listen, Read and Write is a
// *net.OpError with Net "memnet" wrapping one of these, net.ErrClosed or
// os.ErrDeadlineExceeded; Read returns io.EOF unwrapped.
var (
	// ErrRefused: the host is reachable but nothing listens on the port.
	ErrRefused error = syscall.ECONNREFUSED
	// ErrUnreachable: the destination is partitioned away, crashed or was
	// never created.
	ErrUnreachable error = syscall.EHOSTUNREACH
	// ErrHostDown: the local host is crashed (see Network.Crash).
	ErrHostDown error = syscall.ENETDOWN
	// ErrTimedOut: the dial was lost to the drop rate, or crossed a one-way
	// Block (a SYN or its answer that never arrived). Its Timeout method
	// reports true.
	ErrTimedOut error = syscall.ETIMEDOUT
	// ErrReset: a partition broke an established stream.
	ErrReset error = syscall.ECONNRESET
	// ErrBrokenPipe: a write after the peer closed its end.
	ErrBrokenPipe error = syscall.EPIPE
	// ErrAddrInUse: Listen or GossipTransport on a port that is taken.
	ErrAddrInUse error = syscall.EADDRINUSE
	// ErrAddrNotAvail: Listen on an IP that is not the host's.
	ErrAddrNotAvail error = syscall.EADDRNOTAVAIL
)

// opError builds the error value returned by every memnet operation; a nil
// err stays nil.
func opError(op string, src, dst net.Addr, err error) error {
	if err == nil {
		return nil
	}
	e := &net.OpError{Op: op, Net: "memnet", Err: err}
	// A nil Addr inside the interface would make OpError.Error panic.
	if src != nil {
		e.Source = src
	}
	if dst != nil {
		e.Addr = dst
	}
	return e
}
