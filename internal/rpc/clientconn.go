package rpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// call is the rendezvous between a caller and whoever reads its reply.
// Whoever removes a call from clientConn.pending, other than the caller
// itself, sends exactly one reply on done, so a caller that finds its call
// already removed drains done before the call is reused. A caller holding
// the read turn never removes its own call while reading: its reply is
// returned directly and the call leaves pending through abandon.
type call struct {
	done  chan reply  // buffered 1
	timer *time.Timer // stopped while idle; arms the deadline of a waiting caller
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
//
// Replies are read by whoever holds the connection's read turn ("reading").
// A caller whose request went out on a connection nobody is reading takes
// the turn and reads the connection itself until its own reply arrives,
// passing other callers' replies on as they come. This saves the hand-off
// from a reader goroutine to the caller, which on a small machine costs as
// much as the round trip itself. A caller that finds the turn taken waits
// for its reply to be passed on. When the turn holder leaves (reply in hand,
// or giving up at its deadline) while other calls still wait, it starts a
// reader goroutine that holds the turn until no call waits.
//
// The turn holder reads with its own deadline; a caller whose ctx is
// cancelled interrupts its read by moving the read deadline to the past.
// Reads resume mid-frame (frameReader), so a reader that leaves early never
// costs the next one its place in the stream. An interruption can land
// late, on a later turn holder: every reader treats a timeout before its
// own deadline as spurious, forgets the deadline it had set and reads on,
// and the idle-connection probe retries once.
type clientConn struct {
	cl    *Client
	addr  string
	nc    net.Conn
	w     *frameWriter
	probe probe // reports the peer gone; nil when nc cannot tell

	broken atomic.Bool // set with err, read lock-free by the pool

	// woken counts callers handed their reply by another goroutine and
	// not yet sending again: each is likely to send its next request
	// soon, so a sender that sees some leaves its request for the last of
	// them to write (see send).
	woken atomic.Int32

	// Owned by the holder of the read turn.
	fr           *frameReader
	readDeadline time.Time // last set on nc; zero: none
	deadlineSet  bool      // readDeadline is what nc has

	// npending is len(pending), stored with every change to it, so the
	// pool can tell a crowded connection without taking mu.
	npending atomic.Int32

	mu      sync.Mutex // guards pending, nextID, lastUse, reading and err
	pending map[uint64]*call
	nextID  uint64
	lastUse time.Time
	reading bool  // some caller or the reader goroutine holds the read turn
	looping bool  // the reader goroutine holds it
	err     error // why the connection is unusable; nil while usable
}

func newClientConn(c *Client, addr string, nc net.Conn) *clientConn {
	return &clientConn{
		cl:      c,
		addr:    addr,
		nc:      nc,
		w:       newFrameWriter(nc, c.cfg.WriteTimeout, &c.stats),
		probe:   prober(nc),
		fr:      newFrameReader(nc, c.cfg.MaxFrame),
		pending: make(map[uint64]*call),
		lastUse: time.Now(),
	}
}

func (cc *clientConn) usable() bool { return !cc.broken.Load() }

// bulky reports whether a frame larger than the connection's buffer is
// being written or read on it: a new call would wait behind it.
func (cc *clientConn) bulky() bool { return cc.w.large.Load() > 0 || cc.fr.large.Load() }

// crowded reports whether at least n calls wait on the connection.
func (cc *clientConn) crowded(n int) bool { return int(cc.npending.Load()) >= n }

// probeIdle is how long a connection nobody reads must have been unused
// before it is probed: a peer rarely closes a connection within a
// millisecond of using it, and the router retries the call that hits one.
const probeIdle = time.Millisecond

// stale reports, for a connection nobody has read for probeIdle, whether its
// peer closed it; it then breaks the connection. The probe runs holding the
// read turn, so no read (which would hold the socket's read lock, or consume
// what the probe should see) runs meanwhile.
func (cc *clientConn) stale() bool {
	cc.mu.Lock()
	check := cc.probe != nil && !cc.reading && cc.err == nil && time.Since(cc.lastUse) >= probeIdle
	if check {
		cc.reading = true
	}
	cc.mu.Unlock()
	if !check {
		return false
	}
	if !cc.peerClosed() {
		cc.release()
		return false
	}
	cc.fail(fmt.Errorf("rpc: connection to %s closed by the peer: %w", cc.addr, ErrUnreachable))
	cc.mu.Lock()
	cc.reading = false
	cc.mu.Unlock()
	return true
}

// peerClosed runs the probe without a read deadline, as a deadline in the
// past hides the socket's state; an interruption meant for an earlier
// reader can set one again in between, so an unknown answer is retried
// once. Read turn held.
func (cc *clientConn) peerClosed() bool {
	for range 2 {
		if err := cc.setReadDeadline(time.Time{}); err != nil {
			return true // closed under us
		}
		if closed, known := cc.probe(); known {
			return closed
		}
		cc.deadlineSet = false
	}
	return false
}

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
	cc.npending.Store(int32(len(cc.pending)))
	cc.lastUse = time.Now()
	return cc.nextID, nil
}

// send writes a request. A failed write breaks the connection, which
// delivers the error to every registered call, this one included;
// written=false means none of this request's bytes went out.
//
// A sender that sees callers who were just handed their replies (woken)
// buffers its request and yields once, so that they run and add theirs:
// the last of them writes all in one system call. Replies come back in
// batches (the server answers requests that arrived together in one
// write), and their callers otherwise each write alone, one after another
// on the same thread. The yielding sender writes whatever is still
// buffered when it runs again, so no request waits on a caller that does
// not come back.
func (cc *clientConn) send(id uint64, method uint8, deadlineMs uint32, body []byte) (written bool) {
	h := header{kind: kindRequest, method: method, id: id, aux: deadlineMs}
	var err error
	if len(body) <= maxHeld && cc.takeWoken() {
		if err = cc.w.hold(h, body); err == nil {
			runtime.Gosched()
			// Not waiting for a busy writer (it writes this request with
			// its own) lets this caller go on to read replies: a peer
			// answering must find a reader. An error here has no
			// errNothingWritten mark: the request may have gone out with
			// another's.
			err = cc.w.flush()
		}
	} else {
		err = cc.w.write(h, body)
	}
	if err == nil {
		return true
	}
	// The other calls' requests went out earlier: their error must not
	// carry this frame's mark (%v drops it from the chain).
	cc.fail(fmt.Errorf("rpc: write to %s: %w: %v", cc.addr, ErrUnreachable, err))
	return !errors.Is(err, errNothingWritten)
}

// maxHeld is the largest request body send holds back for others to join:
// a batch of small frames is read by the peer in one go, while a large one
// goes out at once, as a peer answering the batch's first request before it
// read the rest could otherwise wait on a client whose callers are all
// still writing.
const maxHeld = bufSize / 4

// takeWoken reports whether some woken caller is yet to send, counting
// this sender off if it is one of them.
func (cc *clientConn) takeWoken() bool {
	for {
		n := cc.woken.Load()
		if n <= 0 {
			return false
		}
		if cc.woken.CompareAndSwap(n, n-1) {
			return n > 1
		}
	}
}

// await returns the reply to request id, reading the connection itself when
// nobody else is, or ctx's error or context.DeadlineExceeded once deadline
// passes (ctxDeadline: ctx ends at deadline by itself).
func (cc *clientConn) await(ctx context.Context, deadline time.Time, ctxDeadline bool, id uint64, cl *call, method uint8) ([]byte, error) {
	cc.mu.Lock()
	_, waiting := cc.pending[id]
	lead := waiting && !cc.reading
	if lead {
		cc.reading = true
	}
	cc.mu.Unlock()
	if lead {
		return cc.lead(ctx, deadline, id, cl, method)
	}
	return cc.follow(ctx, deadline, ctxDeadline, id, cl, method)
}

// follow waits for the read-turn holder to pass the reply on.
func (cc *clientConn) follow(ctx context.Context, deadline time.Time, ctxDeadline bool, id uint64, cl *call, method uint8) ([]byte, error) {
	var timeout <-chan time.Time
	if !ctxDeadline {
		cl.timer.Reset(time.Until(deadline))
		defer cl.timer.Stop()
		timeout = cl.timer.C
	}
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

// lead holds the read turn until the reply to id arrives, the caller gives
// up or the connection breaks.
func (cc *clientConn) lead(ctx context.Context, deadline time.Time, id uint64, cl *call, method uint8) ([]byte, error) {
	var stop func() bool
	if ctx.Done() != nil {
		stop = context.AfterFunc(ctx, cc.interrupt)
	}
	r, gaveUp, err := cc.readUntil(ctx, deadline, id)
	if stop != nil {
		stop()
	}
	switch {
	case err != nil: // the connection broke: everyone waiting gets err
		cc.fail(err)
		cc.mu.Lock()
		cc.reading = false
		cc.mu.Unlock()
		r := <-cl.done
		return nil, r.err
	case gaveUp != nil:
		cc.abandon(id, cl)
		cc.setReadDeadline(time.Time{}) // lets stale() peek again; an error shows on the next read
		cc.release()
		return nil, fmt.Errorf("rpc: call %d to %s: %w", method, cc.addr, gaveUp)
	}
	cc.abandon(id, cl) // done with it; drains fail's reply if fail got there first
	cc.release()
	return r.body, r.err
}

// readUntil reads replies, passing on those of other calls, until the one to
// id arrives (r), the caller's ctx ends or deadline passes (gaveUp), or the
// connection fails (err).
func (cc *clientConn) readUntil(ctx context.Context, deadline time.Time, id uint64) (r reply, gaveUp, err error) {
	for {
		if err := cc.setReadDeadline(deadline); err != nil {
			return reply{}, nil, cc.lost(err)
		}
		if err := ctx.Err(); err != nil { // ended before the deadline above was set
			return reply{}, err, nil
		}
		h, r, err := cc.readReply()
		if isTimeout(err) {
			cc.deadlineSet = false // maybe moved by an interruption
			if err := ctx.Err(); err != nil {
				return reply{}, err, nil
			}
			if !time.Now().Before(deadline) {
				return reply{}, context.DeadlineExceeded, nil
			}
			continue // an interruption meant for an earlier reader
		}
		if err != nil {
			return reply{}, nil, err
		}
		if h.id == id {
			return r, nil, nil
		}
		cc.deliver(h.id, r)
	}
}

// readReply reads one reply frame; a connection error comes back wrapped
// (see lost), a timeout as it is.
func (cc *clientConn) readReply() (header, reply, error) {
	h, body, err := cc.fr.next()
	if err != nil {
		if isTimeout(err) {
			return h, reply{}, err
		}
		return h, reply{}, cc.lost(err)
	}
	cc.cl.stats.bytesIn.Add(uint64(headerLen + len(body)))
	switch h.kind {
	case kindResponse:
		return h, reply{body: body}, nil
	case kindError:
		return h, reply{err: &RemoteError{Code: uint16(h.aux), Msg: string(body)}}, nil
	}
	return h, reply{}, cc.lost(fmt.Errorf("rpc: frame kind %d sent to a client: %w", h.kind, ErrBadFrame))
}

// lost turns a read error into the error the connection fails with.
func (cc *clientConn) lost(err error) error {
	if errors.Is(err, ErrBadFrame) || errors.Is(err, ErrFrameTooLarge) {
		cc.cl.stats.framesRejected.Add(1)
		cc.cl.cfg.Logger.Warn("rpc: closing connection after bad frame", "remote", cc.addr, "err", err)
	}
	if errors.Is(err, io.EOF) || errIsClosedConn(err) {
		err = errors.New("connection closed")
	}
	return fmt.Errorf("rpc: connection to %s lost: %w: %w", cc.addr, ErrUnreachable, err)
}

func isTimeout(err error) bool {
	if err == nil {
		return false // saves errors.As's allocation on every reply
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// setReadDeadline makes nc's read deadline t, or leaves it where it is if
// that is no later than t and earlier by at most 1/8 of the time left: the
// read then ends a little early, and readUntil sets t and reads on. Serial
// calls on a connection so save a timer update each.
func (cc *clientConn) setReadDeadline(t time.Time) error {
	if cc.deadlineSet {
		cur := cc.readDeadline
		switch {
		case t.IsZero() && cur.IsZero():
			return nil
		case !t.IsZero() && !cur.IsZero() && !cur.After(t) && t.Sub(cur) <= time.Until(t)/8:
			return nil
		}
	}
	cc.deadlineSet = false
	if err := cc.nc.SetReadDeadline(t); err != nil {
		return err
	}
	cc.readDeadline, cc.deadlineSet = t, true
	return nil
}

// interrupt wakes the read-turn holder: its read fails with a timeout.
func (cc *clientConn) interrupt() { cc.nc.SetReadDeadline(aLongTimeAgo) }

var aLongTimeAgo = time.Unix(1, 0)

// release gives up the read turn: to a reader goroutine while calls still
// wait or a reply's body is partly read (a caller gave up in the middle of
// it), to the next caller otherwise. Left unread, the rest of that body
// would keep the connection marked bulky and the server's writer blocked.
func (cc *clientConn) release() {
	cc.mu.Lock()
	handOver := (len(cc.pending) > 0 || cc.fr.inBody) && cc.err == nil
	cc.reading, cc.looping = handOver, handOver
	cc.mu.Unlock()
	if handOver && !cc.cl.startReader(cc) {
		cc.fail(fmt.Errorf("rpc: connection to %s: %w", cc.addr, ErrClosed))
	}
}

// readLoop holds the read turn for the calls left waiting by a caller that
// held it, or for the rest of a reply its caller gave up reading, and gives
// it back when none waits at a frame boundary: after delivering the last
// reply, or when interrupted by the last waiting call giving up. It owns one
// count of Client.wg.
func (cc *clientConn) readLoop() {
	defer cc.cl.wg.Done()
	for {
		if err := cc.setReadDeadline(time.Time{}); err != nil {
			cc.fail(cc.lost(err))
			return
		}
		h, r, err := cc.readReply()
		if isTimeout(err) { // interrupted: by abandon, or meant for an earlier caller
			cc.deadlineSet = false
			if cc.giveBackIfIdle() {
				return
			}
			continue
		}
		if err != nil {
			cc.fail(err)
			return
		}
		if cc.deliverLast(h.id, r) {
			return
		}
	}
}

// giveBackIfIdle ends the reader goroutine's turn if no call waits and it
// is not in the middle of a frame.
func (cc *clientConn) giveBackIfIdle() bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if len(cc.pending) > 0 || cc.fr.inBody {
		return false
	}
	cc.reading, cc.looping = false, false
	return true
}

// abandon unregisters a call whose caller gave up or read its own reply. If
// a reader or fail got to it first, their reply is drained and dropped. The
// last call to leave a reader goroutine waiting for nobody interrupts it,
// so the next caller reads for itself again.
func (cc *clientConn) abandon(id uint64, cl *call) {
	cc.mu.Lock()
	_, mine := cc.pending[id]
	delete(cc.pending, id)
	cc.npending.Store(int32(len(cc.pending)))
	idleLoop := cc.looping && len(cc.pending) == 0
	cc.mu.Unlock()
	if idleLoop {
		cc.interrupt()
	}
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
	cc.npending.Store(int32(len(cc.pending)))
	cc.mu.Unlock()
	if cl != nil {
		cc.wake(cl, r)
	}
}

// wake hands a reply to a waiting caller.
func (cc *clientConn) wake(cl *call, r reply) {
	cc.woken.Add(1)
	cl.done <- r
}

// deliverLast is deliver for the reader goroutine: it also reports whether
// no call is left waiting, in which case the read turn is given back.
func (cc *clientConn) deliverLast(id uint64, r reply) (done bool) {
	cc.mu.Lock()
	cl := cc.pending[id]
	delete(cc.pending, id)
	cc.npending.Store(int32(len(cc.pending)))
	done = len(cc.pending) == 0
	if done {
		cc.reading, cc.looping = false, false
	}
	cc.mu.Unlock()
	if cl != nil {
		cc.wake(cl, r)
	}
	return done
}

// fail marks the connection unusable, closes it and fails every waiting
// call with the first error given. Safe to call more than once.
func (cc *clientConn) fail(err error) {
	cc.mu.Lock()
	first := cc.breakLocked(err)
	err = cc.err
	pending := cc.pending
	cc.pending = make(map[uint64]*call)
	cc.npending.Store(0)
	cc.mu.Unlock()
	if first {
		cc.closeAndUntrack()
	}
	for _, cl := range pending {
		cl.done <- reply{err: err}
	}
}

// breakLocked records why the connection is unusable, unless it already
// was; it reports whether this call broke it.
func (cc *clientConn) breakLocked(err error) bool {
	if cc.err != nil {
		return false
	}
	cc.err = err
	cc.broken.Store(true)
	return true
}

func (cc *clientConn) closeAndUntrack() {
	cc.nc.Close()
	cc.cl.untrack(cc)
}

// closeIfIdle closes the connection if no call is waiting and none started
// since cutoff.
func (cc *clientConn) closeIfIdle(cutoff time.Time) {
	cc.mu.Lock()
	idle := cc.err == nil && len(cc.pending) == 0 && cc.lastUse.Before(cutoff)
	if idle {
		cc.breakLocked(fmt.Errorf("rpc: connection to %s closed after idling: %w", cc.addr, ErrUnreachable))
	}
	cc.mu.Unlock()
	if idle {
		cc.closeAndUntrack()
	}
}
