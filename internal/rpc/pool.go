package rpc

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync/atomic"
	"time"
)

// peer is the pool of connections to one remote address.
type peer struct {
	addr  string
	next  atomic.Uint32 // round-robin cursor over slots
	slots []slot
}

// slot holds one pooled connection and serialises its redialling, so a burst
// of calls to a peer whose connection broke dials once, not once per call.
type slot struct {
	conn atomic.Pointer[clientConn] // nil or possibly broken; checked lock-free

	lock chan struct{} // 1-buffered; held while checking and dialling
	// guarded by lock: the last dial failure, shared with callers that were
	// already waiting when it happened
	failedAt time.Time
	failErr  error
}

func newPeer(addr string, n int) *peer {
	p := &peer{addr: addr, slots: make([]slot, n)}
	for i := range p.slots {
		p.slots[i].lock = make(chan struct{}, 1)
	}
	return p
}

// closeAll fails every pooled connection with err.
func (p *peer) closeAll(err error) {
	for i := range p.slots {
		if cc := p.slots[i].conn.Load(); cc != nil {
			cc.fail(err)
		}
	}
}

// conn returns a usable connection to addr, dialling if a slot it needs is
// empty or broken. Calls go to the first usable slot whose connection is not
// busy, not round-robin: concurrent calls concentrated on one connection
// share its system calls (requests that meet go out in one write, and the
// server answers them in one), which halves the system calls per call with
// 16 callers between processes. A connection is busy while it moves a frame
// larger than its buffer, in either direction, as that holds up every frame
// behind it, and while half of MaxInFlight calls wait on it (slow handlers,
// such as lock waits): its server may be about to stop reading it.
//
// A slot is dialled only when no usable connection is free: a broken first
// connection whose peer refuses new ones does not fail calls the second one
// can carry. With every usable connection busy, calls dial the first empty
// or broken slot, but go to a busy connection, round-robin, rather than wait
// for a dial another caller is making or fail with a dial error.
func (c *Client) conn(ctx context.Context, addr string) (*clientConn, error) {
	p, err := c.peer(addr)
	if err != nil {
		return nil, err
	}
	crowd := max(1, c.cfg.MaxInFlight/2) // MaxInFlight 1: one waiting call is a crowd
	var empty *slot                      // the first slot without a usable connection
	for i := range p.slots {
		s := &p.slots[i]
		switch cc := s.conn.Load(); {
		case cc == nil || !cc.usable():
			if empty == nil {
				empty = s
			}
		case !cc.bulky() && !cc.crowded(crowd):
			return cc, nil
		}
	}
	busy := p.anyUsable()
	if empty == nil && busy != nil {
		return busy, nil
	}
	if empty == nil { // broke since the loop looked
		empty = &p.slots[p.next.Add(1)%uint32(len(p.slots))]
	}
	return c.redial(ctx, p, empty, busy)
}

// anyUsable returns a usable connection, round-robin, or nil if none is.
func (p *peer) anyUsable() *clientConn {
	start := p.next.Add(1)
	for k := range uint32(len(p.slots)) {
		if cc := p.slots[(start+k)%uint32(len(p.slots))].conn.Load(); cc != nil && cc.usable() {
			return cc
		}
	}
	return nil
}

// peer returns the pool for addr, creating it on first use.
func (c *Client) peer(addr string) (*peer, error) {
	c.mu.RLock()
	p, closed := c.peers[addr], c.closed
	c.mu.RUnlock()
	if p != nil {
		return p, nil
	}
	if closed {
		return nil, fmt.Errorf("rpc: call to %s: %w", addr, ErrClosed)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, fmt.Errorf("rpc: call to %s: %w", addr, ErrClosed)
	}
	if p = c.peers[addr]; p == nil {
		p = newPeer(addr, c.cfg.ConnsPerPeer)
		c.peers[addr] = p
	}
	return p, nil
}

// redial fills slot s with a fresh connection, unless another caller did so
// (or failed to) while this one waited for the slot. With a fallback (a
// usable but busy connection) it never waits: while another caller dials s,
// after a dial of s failed within the last DialTimeout, or when its own dial
// fails, it returns the fallback.
func (c *Client) redial(ctx context.Context, p *peer, s *slot, fallback *clientConn) (*clientConn, error) {
	start := time.Now()
	if fallback != nil {
		select {
		case s.lock <- struct{}{}:
		default:
			return fallback, nil
		}
	} else {
		select {
		case s.lock <- struct{}{}:
		case <-ctx.Done():
			return nil, fmt.Errorf("rpc: call to %s: %w", p.addr, ctx.Err())
		}
	}
	defer func() { <-s.lock }()
	if cc := s.conn.Load(); cc != nil && cc.usable() {
		return cc, nil
	}
	if c.isClosed() {
		return nil, fmt.Errorf("rpc: call to %s: %w", p.addr, ErrClosed)
	}
	if fallback != nil && s.failErr != nil && start.Sub(s.failedAt) < c.cfg.DialTimeout {
		return fallback, nil
	}
	if s.failErr != nil && s.failedAt.After(start) {
		return nil, s.failErr
	}
	cc, err := c.dial(ctx, p)
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		// A failure of the peer, not of this caller.
		s.failedAt, s.failErr = time.Now(), err
		if fallback != nil && fallback.usable() {
			return fallback, nil
		}
		return nil, err
	}
	s.conn.Store(cc)
	return cc, nil
}

// dial connects to p.addr (TLS handshake included), within DialTimeout.
func (c *Client) dial(ctx context.Context, p *peer) (*clientConn, error) {
	dctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	nc, err := c.cfg.Dial(dctx, p.addr)
	if err == nil {
		setUnackedTimeout(nc, c.cfg.UnackedTimeout)
	}
	if err == nil && c.cfg.TLS != nil {
		nc, err = c.handshake(dctx, nc, p.addr)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("rpc: dial %s: %w", p.addr, ctx.Err())
		}
		return nil, fmt.Errorf("rpc: dial %s: %w: %w", p.addr, ErrUnreachable, err)
	}
	cc := newClientConn(c, p.addr, nc)
	if err := c.track(cc, p); err != nil {
		nc.Close()
		return nil, err
	}
	return cc, nil
}

// handshake runs the client side of the TLS handshake, closing nc on failure.
func (c *Client) handshake(ctx context.Context, nc net.Conn, addr string) (net.Conn, error) {
	cfg := c.cfg.TLS
	if cfg.ServerName == "" && !cfg.InsecureSkipVerify {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			host = addr
		}
		cfg = cfg.Clone()
		cfg.ServerName = host
	}
	tc := tls.Client(nc, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		c.stats.handshakesFailed.Add(1)
		return nil, fmt.Errorf("tls handshake: %w", err)
	}
	return tc, nil
}

// track registers a new connection unless the Client closed or the peer was
// forgotten while dialling; the caller then closes it.
func (c *Client) track(cc *clientConn, p *peer) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return fmt.Errorf("rpc: dial %s: %w", p.addr, ErrClosed)
	case c.peers[p.addr] != p:
		return fmt.Errorf("rpc: dial %s: peer forgotten: %w", p.addr, ErrUnreachable)
	}
	c.conns[cc] = struct{}{}
	c.stats.connOpened()
	return nil
}

func (c *Client) isClosed() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.closed
}

// untrack removes a connection that broke or was closed.
func (c *Client) untrack(cc *clientConn) {
	c.mu.Lock()
	delete(c.conns, cc)
	c.mu.Unlock()
	c.stats.connClosed()
}
