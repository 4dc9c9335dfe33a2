package rpc

import (
	"crypto/tls"
	"net"
	"syscall"
)

// A connection nobody is reading cannot notice that its peer closed it
// (the peer restarted, or its server shut down). Before such a connection
// is reused it is probed, so the call goes to a fresh connection instead of
// failing with ErrUnreachable after its request was written.

// PeerCloser is implemented by connections that can tell, without blocking
// and without consuming data, that the peer has closed them. TCP connections
// (and TLS over TCP) are probed through the operating system; in-memory
// connections such as internal/memnet's implement it. Either way a close is
// seen only once the data sent before it has been read: a late reply still
// unread hides it, and the call then fails as it would have anyway.
type PeerCloser interface {
	PeerClosed() bool
}

// A probe reports whether the peer closed the connection; known is false
// when it could not tell.
type probe func() (closed, known bool)

// prober returns the liveness probe for nc: nil when nc offers none. Only
// the holder of the connection's read turn may run it.
func prober(nc net.Conn) probe {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn() // the peer's close shows on the raw stream
	}
	if pc, ok := nc.(PeerCloser); ok {
		return func() (bool, bool) { return pc.PeerClosed(), true }
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
// Not safe for concurrent use (the read turn serialises it).
type socketProbe struct {
	rc     syscall.RawConn
	peekFn func(fd uintptr) bool // p.peek, bound once
	n      int                   // result of the last peek
	err    error
	buf    [1]byte
}

func (p *socketProbe) closed() (closed, known bool) {
	err := p.rc.Read(p.peekFn)
	return peekClosed(err, p.n, p.err)
}
