package rpc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// call is the rendezvous between a caller and the reader of its connection.
// Whoever removes a call from clientConn.pending sends exactly one reply on
// done, so a caller that gives up and finds its call already removed drains
// done before the call is reused.
type call struct {
	done  chan reply  // buffered 1
	timer *time.Timer // stopped while idle; arms Config.CallTimeout
}

type reply struct {
	body []byte
	err  error
}

func newCall() *call {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &call{done: make(chan reply, 1), timer: t}
}

// clientConn is one multiplexed connection to a peer.
type clientConn struct {
	cl   *Client
	addr string
	nc   net.Conn
	w    *frameWriter

	broken atomic.Bool // set with err, read lock-free by the pool

	mu      sync.Mutex // guards pending, nextID, lastUse and err
	pending map[uint64]*call
	nextID  uint64
	lastUse time.Time
	err     error // why the connection is unusable; nil while usable
}

func newClientConn(c *Client, addr string, nc net.Conn) *clientConn {
	return &clientConn{
		cl:      c,
		addr:    addr,
		nc:      nc,
		w:       newFrameWriter(nc, c.cfg.WriteTimeout, &c.stats.bytesOut),
		pending: make(map[uint64]*call),
		lastUse: time.Now(),
	}
}

func (cc *clientConn) usable() bool { return !cc.broken.Load() }

// register assigns a request id to cl and makes it receive the reply. It
// fails if the connection is already unusable.
func (cc *clientConn) register(cl *call) (uint64, error) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.err != nil {
		return 0, cc.err
	}
	cc.nextID++
	cc.pending[cc.nextID] = cl
	cc.lastUse = time.Now()
	return cc.nextID, nil
}

// send writes a request. A failed write breaks the connection, which
// delivers the error to the registered call.
func (cc *clientConn) send(id uint64, method uint8, deadlineMs uint32, body []byte) {
	h := header{kind: kindRequest, method: method, id: id, aux: deadlineMs}
	if err := cc.w.write(h, body); err != nil {
		cc.fail(fmt.Errorf("rpc: write to %s: %w: %w", cc.addr, ErrUnreachable, err))
	}
}

// await waits for the reply to request id, or for ctx or timeout.
func (cc *clientConn) await(ctx context.Context, timeout <-chan time.Time, id uint64, cl *call, method uint8) ([]byte, error) {
	var err error
	select {
	case r := <-cl.done:
		return r.body, r.err
	case <-ctx.Done():
		err = ctx.Err()
	case <-timeout:
		err = context.DeadlineExceeded
	}
	cc.abandon(id, cl)
	return nil, fmt.Errorf("rpc: call %d to %s: %w", method, cc.addr, err)
}

// abandon unregisters a call whose caller gave up. If the reader or fail
// got to it first, their reply is drained and dropped.
func (cc *clientConn) abandon(id uint64, cl *call) {
	cc.mu.Lock()
	_, mine := cc.pending[id]
	delete(cc.pending, id)
	cc.mu.Unlock()
	if !mine {
		<-cl.done
	}
}

// deliver hands a reply to the call waiting for id; replies for unknown ids
// (the caller gave up) are dropped.
func (cc *clientConn) deliver(id uint64, r reply) {
	cc.mu.Lock()
	cl := cc.pending[id]
	delete(cc.pending, id)
	cc.mu.Unlock()
	if cl != nil {
		cl.done <- r
	}
}

// fail marks the connection unusable, closes it and fails every waiting
// call with the first error given. Safe to call more than once.
func (cc *clientConn) fail(err error) {
	cc.mu.Lock()
	if cc.err == nil {
		cc.err = err
		cc.broken.Store(true)
	}
	err = cc.err
	pending := cc.pending
	cc.pending = make(map[uint64]*call)
	cc.mu.Unlock()
	cc.nc.Close()
	for _, cl := range pending {
		cl.done <- reply{err: err}
	}
}

// closeIfIdle closes the connection if no call is waiting and none started
// since cutoff.
func (cc *clientConn) closeIfIdle(cutoff time.Time) {
	cc.mu.Lock()
	idle := cc.err == nil && len(cc.pending) == 0 && cc.lastUse.Before(cutoff)
	if idle {
		cc.err = fmt.Errorf("rpc: connection to %s closed after idling: %w", cc.addr, ErrUnreachable)
		cc.broken.Store(true)
	}
	cc.mu.Unlock()
	if idle {
		cc.nc.Close()
	}
}

// readLoop dispatches replies until the connection breaks, then fails the
// calls still waiting. It owns one count of Client.wg.
func (cc *clientConn) readLoop() {
	defer cc.cl.wg.Done()
	err := cc.readReplies(bufio.NewReaderSize(cc.nc, bufSize))
	if errors.Is(err, ErrBadFrame) || errors.Is(err, ErrFrameTooLarge) {
		cc.cl.stats.framesRejected.Add(1)
		cc.cl.cfg.Logger.Warn("rpc: closing connection after bad frame",
			"remote", cc.addr, "err", err)
	}
	if errors.Is(err, io.EOF) || errIsClosedConn(err) {
		err = errors.New("connection closed")
	}
	cc.fail(fmt.Errorf("rpc: connection to %s lost: %w: %w", cc.addr, ErrUnreachable, err))
	cc.cl.untrack(cc)
}

func (cc *clientConn) readReplies(br *bufio.Reader) error {
	for {
		h, body, err := readFrame(br, cc.cl.cfg.MaxFrame)
		if err != nil {
			return err
		}
		cc.cl.stats.bytesIn.Add(uint64(headerLen + len(body)))
		switch h.kind {
		case kindResponse:
			cc.deliver(h.id, reply{body: body})
		case kindError:
			cc.deliver(h.id, reply{err: &RemoteError{Code: uint16(h.aux), Msg: string(body)}})
		default:
			return fmt.Errorf("rpc: frame kind %d sent to a client: %w", h.kind, ErrBadFrame)
		}
	}
}
