package rpc

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"
)

// Client sends requests to peers over pooled, persistent connections: up to
// Config.ConnsPerPeer per remote address, each carrying many concurrent calls
// matched to their replies by request id. Connections are dialled on first
// use, redialled after they break and closed after Config.IdleTimeout. A
// caller reads its reply off the connection itself when no other call is
// waiting on it (see clientConn). A Client is safe for concurrent use.
type Client struct {
	cfg   Config
	stats counters
	calls sync.Pool // *call, reused across calls to avoid per-call garbage
	stop  chan struct{}
	wg    sync.WaitGroup // reader goroutines and the idle reaper

	mu     sync.RWMutex // guards closed, peers and conns
	closed bool
	peers  map[string]*peer
	conns  map[*clientConn]struct{} // every open connection, pooled or not
}

// NewClient returns a Client. It dials nothing until the first Call.
func NewClient(cfg Config) (*Client, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Client{
		cfg:   cfg,
		stop:  make(chan struct{}),
		peers: make(map[string]*peer),
		conns: make(map[*clientConn]struct{}),
	}
	c.calls.New = func() any { return newCall() }
	c.wg.Add(1)
	go c.reapIdle()
	return c, nil
}

// Call sends a request to the Server at addr and waits for its reply.
//
// The wait ends at ctx's deadline, or after Config.CallTimeout when ctx has
// none; that deadline is sent along so the handler's ctx expires with it.
// Errors: a *RemoteError (errors.As) when the handler failed; ErrUnreachable
// when no connection could be set up or it broke before the reply; ctx's
// error or context.DeadlineExceeded when the deadline passed first (the
// connection stays usable; a late reply is dropped); ErrFrameTooLarge;
// ErrClosed. An error that also wraps ErrNotSent means the request was
// never written, so the peer did not run it; otherwise it may have. body
// must not be modified until Call returns; the returned slice belongs to
// the caller.
func (c *Client) Call(ctx context.Context, addr string, method uint8, body []byte) ([]byte, error) {
	return c.CallDeadline(ctx, time.Time{}, addr, method, body)
}

// CallDeadline is Call ending at deadline, or at ctx's deadline if that is
// earlier; a zero deadline means Call's. It saves deriving a context with a
// deadline (a timer, and for a cancellable ctx a cancellation hook) when
// only the deadline is needed.
func (c *Client) CallDeadline(ctx context.Context, deadline time.Time, addr string, method uint8, body []byte) ([]byte, error) {
	c.stats.calls.Add(1)
	resp, err := c.call(ctx, deadline, addr, method, body)
	if err != nil {
		c.stats.errors.Add(1)
	}
	return resp, err
}

func (c *Client) call(ctx context.Context, deadline time.Time, addr string, method uint8, body []byte) ([]byte, error) {
	if len(body) > c.cfg.MaxFrame {
		return nil, fmt.Errorf("rpc: call %d to %s: request of %d bytes exceeds %d: %w",
			method, addr, len(body), c.cfg.MaxFrame, ErrFrameTooLarge)
	}
	cl := c.calls.Get().(*call)
	defer c.calls.Put(cl)
	// ctxDeadline: ctx ends at deadline by itself, so waiting on ctx covers it.
	ctxEnd, ctxDeadline := ctx.Deadline()
	switch {
	case ctxDeadline && (deadline.IsZero() || !deadline.Before(ctxEnd)):
		deadline = ctxEnd
	case deadline.IsZero():
		deadline, ctxDeadline = time.Now().Add(c.cfg.CallTimeout), false
	default:
		ctxDeadline = false
	}
	// A connection found closed before the request was written is retried
	// once on a fresh one: nothing reached the peer.
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("rpc: call %d to %s: %w: %w", method, addr, ErrNotSent, err)
		}
		cc, err := c.conn(ctx, addr)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrNotSent, err)
		}
		if cc.stale() && attempt == 0 {
			continue
		}
		id, err := cc.register(cl)
		if err != nil && attempt == 0 {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrNotSent, err)
		}
		if !cc.send(id, method, remainingMillis(deadline), body) {
			cc.abandon(id, cl) // takes the connection's failure off cl
			return nil, fmt.Errorf("rpc: call %d to %s: %w: %w: connection broke before the request was written",
				method, addr, ErrNotSent, ErrUnreachable)
		}
		// From here on the peer may run the request, whatever the outcome.
		return cc.await(ctx, deadline, ctxDeadline, id, cl, method)
	}
}

// remainingMillis is the deadline sent to the server, rounded up so the
// handler never sees an earlier deadline than the caller; at least 1ms.
func remainingMillis(deadline time.Time) uint32 {
	ms := (time.Until(deadline) + time.Millisecond - 1) / time.Millisecond
	return uint32(min(max(ms, 1), math.MaxUint32))
}

// Forget closes the pooled connections to addr and drops them, failing calls
// waiting on them with ErrUnreachable. Call it when a peer leaves the
// cluster; a later Call to addr dials again.
func (c *Client) Forget(addr string) {
	c.mu.Lock()
	p := c.peers[addr]
	delete(c.peers, addr)
	c.mu.Unlock()
	if p != nil {
		p.closeAll(fmt.Errorf("rpc: %s forgotten: %w", addr, ErrUnreachable))
	}
}

// Close closes every connection, failing waiting calls with ErrClosed, and
// returns after the Client's goroutines have exited. Later calls return
// ErrClosed. Close is idempotent.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		c.wg.Wait()
		return nil
	}
	c.closed = true
	conns := make([]*clientConn, 0, len(c.conns))
	for cc := range c.conns {
		conns = append(conns, cc)
	}
	c.peers = nil
	c.mu.Unlock()

	close(c.stop)
	for _, cc := range conns {
		cc.fail(fmt.Errorf("rpc: connection to %s: %w", cc.addr, ErrClosed))
	}
	c.wg.Wait()
	return nil
}

// startReader starts a reader goroutine for cc, unless the Client is
// closing (Close then fails cc).
func (c *Client) startReader(cc *clientConn) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return false
	}
	c.wg.Add(1)
	go cc.readLoop()
	return true
}

// Stats returns a snapshot of the Client's counters.
func (c *Client) Stats() Stats { return c.stats.snapshot() }

// reapIdle closes connections without calls for Config.IdleTimeout.
func (c *Client) reapIdle() {
	defer c.wg.Done()
	tick := time.NewTicker(max(c.cfg.IdleTimeout/2, time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-c.stop:
			return
		case now := <-tick.C:
			cutoff := now.Add(-c.cfg.IdleTimeout)
			c.mu.RLock()
			conns := make([]*clientConn, 0, len(c.conns))
			for cc := range c.conns {
				conns = append(conns, cc)
			}
			c.mu.RUnlock()
			for _, cc := range conns { // outside c.mu: closing one untracks it, which locks c.mu
				cc.closeIfIdle(cutoff)
			}
		}
	}
}
