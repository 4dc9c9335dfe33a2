package memnet

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// conn is one end of a full-duplex, buffered in-memory stream. Unlike
// net.Pipe, Write returns as soon as the bytes are queued (up to
// StreamBuffer per direction), as it does on TCP. All methods are safe for
// concurrent use.
type conn struct {
	local, remote Addr
	rd, wr        *pipe // rd: peer -> us, wr: us -> peer
	rdl, wdl      *deadline
	net           *Network
	onClose       func() // tells the network this end is gone

	closeOnce sync.Once
	closed    chan struct{}
}

// newConnPair returns the two ends of a stream between a and b.
func newConnPair(n *Network, a, b Addr) (*conn, *conn) {
	ab, ba := newPipe(), newPipe()
	ca := &conn{local: a, remote: b, rd: ba, wr: ab, net: n,
		rdl: newDeadline(), wdl: newDeadline(), closed: make(chan struct{})}
	cb := &conn{local: b, remote: a, rd: ab, wr: ba, net: n,
		rdl: newDeadline(), wdl: newDeadline(), closed: make(chan struct{})}
	return ca, cb
}

// Read reads due data; it returns io.EOF once the peer closed and all its
// data was read.
func (c *conn) Read(b []byte) (int, error) {
	for {
		if err := c.usable(c.rdl); err != nil {
			return 0, c.opErr("read", err)
		}
		if len(b) == 0 {
			return 0, nil
		}
		n, wait, due, err := c.rd.pull(b, time.Now())
		if err == io.EOF {
			return 0, io.EOF
		}
		if n > 0 || err != nil {
			return n, c.opErr("read", err)
		}
		if err := c.block(wait, due, c.rdl); err != nil {
			return 0, c.opErr("read", err)
		}
	}
}

// Write queues b for the peer, blocking while the direction's buffer is
// full (backpressure) until the peer reads, the deadline passes or the
// stream breaks.
func (c *conn) Write(b []byte) (int, error) {
	n := 0
	for {
		if err := c.usable(c.wdl); err != nil {
			return n, c.opErr("write", err)
		}
		if n == len(b) {
			return n, nil
		}
		k, wait, err := c.wr.push(b[n:], c.net.latency())
		n += k
		c.net.stats.streamBytes.Add(uint64(k))
		if errors.Is(err, ErrBrokenPipe) && c.rd.isStalled() {
			// The peer closed, but its reset cannot cross the one-way block
			// to us: the bytes go out and are lost, as on TCP.
			return len(b), nil
		}
		if err != nil {
			return n, c.opErr("write", err)
		}
		if n < len(b) {
			if err := c.block(wait, time.Time{}, c.wdl); err != nil {
				return n, c.opErr("write", err)
			}
		}
	}
}

// usable reports why the conn cannot be used now, if it cannot.
func (c *conn) usable(dl *deadline) error {
	if isClosed(c.closed) {
		return net.ErrClosed
	}
	if isClosed(dl.wait()) {
		return os.ErrDeadlineExceeded
	}
	return nil
}

// block waits for a state change of the pipe, for the next delayed chunk to
// become due, for the deadline or for Close.
func (c *conn) block(wait <-chan struct{}, due time.Time, dl *deadline) error {
	var dueC <-chan time.Time
	if !due.IsZero() {
		t := time.NewTimer(time.Until(due))
		defer t.Stop()
		dueC = t.C
	}
	select {
	case <-wait:
	case <-dueC:
	case <-dl.wait():
		return os.ErrDeadlineExceeded
	case <-c.closed:
		return net.ErrClosed
	}
	return nil
}

// Close closes this end: the peer reads the remaining data then io.EOF, and
// its writes fail. A second Close returns an error wrapping net.ErrClosed.
func (c *conn) Close() error {
	first := false
	c.closeOnce.Do(func() {
		first = true
		close(c.closed)
		c.rd.closeRead()
		c.wr.closeWrite()
		c.rdl.stop()
		c.wdl.stop()
		if c.onClose != nil {
			c.onClose()
		}
	})
	if !first {
		return c.opErr("close", net.ErrClosed)
	}
	return nil
}

// PeerClosed reports, without blocking or consuming data, whether reading
// would find the stream ended: the peer closed it and all its data was read,
// the stream broke (partition, crash), or this end was closed. It lets a
// connection pool drop a stale connection before reusing it, as it would by
// peeking at a TCP socket.
func (c *conn) PeerClosed() bool {
	if isClosed(c.closed) {
		return true
	}
	return c.rd.ended()
}

// breakWith fails both directions with err (a partition cut the link).
func (c *conn) breakWith(err error) {
	c.rd.breakWith(err)
	c.wr.breakWith(err)
}

func (c *conn) opErr(op string, err error) error {
	return opError(op, c.local, c.remote, err)
}

// LocalAddr returns this end's Addr.
func (c *conn) LocalAddr() net.Addr { return c.local }

// RemoteAddr returns the peer's Addr.
func (c *conn) RemoteAddr() net.Addr { return c.remote }

// SetDeadline sets both the read and the write deadline.
func (c *conn) SetDeadline(t time.Time) error {
	c.rdl.set(t)
	c.wdl.set(t)
	return nil
}

// SetReadDeadline makes pending and future Reads fail with a timeout error
// (errors.Is os.ErrDeadlineExceeded) once t has passed; zero disables it.
func (c *conn) SetReadDeadline(t time.Time) error {
	c.rdl.set(t)
	return nil
}

// SetWriteDeadline is SetReadDeadline for Write.
func (c *conn) SetWriteDeadline(t time.Time) error {
	c.wdl.set(t)
	return nil
}

// deadline is one of a conn's read or write deadlines: a channel that is
// closed once the deadline passes. Setting a new deadline re-arms it.
type deadline struct {
	mu sync.Mutex // guards the fields below
	// expired is closed when the current deadline has passed.
	expired chan struct{}
	// timer closes expired; gen tells a late callback of a replaced timer
	// that it must not close the new channel.
	timer *time.Timer
	gen   uint64
}

func newDeadline() *deadline { return &deadline{expired: make(chan struct{})} }

// set arms the deadline for t; the zero time disarms it.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopLocked()
	if isClosed(d.expired) {
		d.expired = make(chan struct{})
	}
	if t.IsZero() {
		return
	}
	wait := time.Until(t)
	if wait <= 0 {
		close(d.expired)
		return
	}
	gen, ch := d.gen, d.expired
	d.timer = time.AfterFunc(wait, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.gen == gen && !isClosed(ch) {
			close(ch)
		}
	})
}

// wait returns the channel closed at the deadline.
func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.expired
}

// stop releases the timer (used by Close).
func (d *deadline) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopLocked()
}

func (d *deadline) stopLocked() {
	d.gen++
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
