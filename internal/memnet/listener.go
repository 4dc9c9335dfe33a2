package memnet

import (
	"net"
	"sync"
)

// acceptBacklog is how many dialled, not yet accepted streams a listener
// holds before refusing more (the listen(2) backlog).
const acceptBacklog = 128

// listener accepts streams dialled to its address.
type listener struct {
	net     *Network
	addr    Addr
	backlog chan *conn
	done    chan struct{}

	mu sync.Mutex // guards closed and sends on backlog
	// closed is set by Close; no conn is queued after it.
	closed bool
}

func newListener(n *Network, a Addr) *listener {
	return &listener{net: n, addr: a, backlog: make(chan *conn, acceptBacklog), done: make(chan struct{})}
}

// accept queues a dialled stream; false means refused (closed or full).
func (l *listener) accept(c *conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	select {
	case l.backlog <- c:
		return true
	default:
		return false
	}
}

// Accept waits for the next stream.
func (l *listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.backlog:
		return c, nil
	case <-l.done:
		return nil, opError("accept", nil, l.addr, net.ErrClosed)
	}
}

// Close stops accepting, frees the port and closes streams that were
// dialled but not yet accepted. Accepted streams stay open.
func (l *listener) Close() error {
	l.net.unbind(l.addr, l)
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return opError("close", nil, l.addr, net.ErrClosed)
	}
	l.closed = true
	close(l.done)
	l.mu.Unlock()
	closePending(l.backlog)
	return nil
}

// closePending closes the conns left in an accept queue that no longer
// receives new ones. A concurrent reader may take some of them first.
func closePending[C net.Conn](ch <-chan C) {
	for {
		select {
		case c := <-ch:
			_ = c.Close()
		default:
			return
		}
	}
}

func (l *listener) shutdown() { _ = l.Close() }

// Addr returns the bound address (with the real port when 0 was asked).
func (l *listener) Addr() net.Addr { return l.addr }
