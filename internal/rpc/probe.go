package rpc

import (
	"crypto/tls"
	"net"
	"sync"
	"syscall"
)

// A connection nobody is reading cannot notice that its peer closed it
// (the peer restarted, or its server shut down). Before such a connection
// is reused it is probed, so the call goes to a fresh connection instead of
// failing with ErrUnreachable after its request was written.

// PeerCloser is implemented by connections that can tell, without blocking
// and without consuming data, that the peer has closed them. TCP connections
// (and TLS over TCP) are probed through the operating system; in-memory
// connections such as internal/memnet's implement it.
type PeerCloser interface {
	PeerClosed() bool
}

// prober returns the liveness probe for nc: nil when nc offers none.
func prober(nc net.Conn) func() bool {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn() // the peer's close shows on the raw stream
	}
	if pc, ok := nc.(PeerCloser); ok {
		return pc.PeerClosed
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	p := &socketProbe{rc: rc}
	p.peekFn = p.peek
	return p.closed
}

// socketProbe peeks at a socket; allocation-free, as it runs before calls.
type socketProbe struct {
	rc     syscall.RawConn
	peekFn func(fd uintptr) bool // p.peek, bound once

	mu  sync.Mutex // guards the result of the last peek
	n   int
	err error
	buf [1]byte
}

// closed reports whether the peer closed the socket. A probe already
// running for another caller answers for both: this one reports false.
func (p *socketProbe) closed() bool {
	if !p.mu.TryLock() {
		return false
	}
	defer p.mu.Unlock()
	err := p.rc.Read(p.peekFn)
	return peekClosed(err, p.n, p.err)
}
