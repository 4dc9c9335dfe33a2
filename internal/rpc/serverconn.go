package rpc

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"sync"
	"time"
)

// serverConn serves one accepted connection. One goroutine at a time reads
// requests; replies go out through a shared frameWriter. A request that a
// FastHandler answers is served by the reader itself. Any other request is
// handled by the goroutine that read it, which first starts a new goroutine
// to read on: the handler starts at once, on the thread that received the
// request, instead of waiting to be scheduled (and, on a small machine,
// stolen by another thread woken for it), which cost a forwarded write about
// 40 us. serve's own goroutine waits for the reading to end.
type serverConn struct {
	s      *Server
	nc     net.Conn // the accepted connection; closing it stops everything
	open   *int     // its listener's count of open connections; guarded by s.mu
	remote string
	ctx    context.Context // cancelled when the connection ends or the Server closes
	cancel context.CancelFunc
	sem    chan struct{}  // one token per running handler (back-pressure)
	wg     sync.WaitGroup // readers and handlers of this connection
	w      *frameWriter   // set once the handshake is done
	// tc is the TLS connection over nc, nil without TLS; set once the
	// handshake is done.
	tc    *tls.Conn
	ended chan error // why reading ended; sent once, by the last reader

	// scratch is the buf passed to FastHandler.ServeFast; reader goroutine
	// only. It is only ever memory this connection allocated, never a
	// handler's reply, which the handler might still reference.
	scratch []byte
}

// maxScratch bounds the per-connection fast-reply buffer, so one large
// reply does not pin its size for the connection's lifetime.
const maxScratch = 64 << 10

func newServerConn(s *Server, nc net.Conn) *serverConn {
	ctx, cancel := context.WithCancel(s.ctx)
	remote := "unknown"
	if a := nc.RemoteAddr(); a != nil {
		remote = a.String()
	}
	return &serverConn{
		s:      s,
		nc:     nc,
		remote: remote,
		ctx:    ctx,
		cancel: cancel,
		sem:    make(chan struct{}, s.cfg.MaxInFlight),
		ended:  make(chan error, 1),
	}
}

// serve runs the connection to its end and waits for its handlers. It owns
// one count of Server.wg.
func (sc *serverConn) serve() {
	defer sc.s.wg.Done()
	defer sc.s.dropConn(sc)
	defer sc.wg.Wait() // runs after the close and cancel below
	defer sc.cancel()
	defer sc.nc.Close()

	conn, err := sc.handshake()
	if err != nil && sc.ctx.Err() != nil {
		return // the Server is closing
	}
	if err != nil {
		sc.s.stats.handshakesFailed.Add(1)
		sc.s.cfg.Logger.Warn("rpc: tls handshake failed", "remote", sc.remote, "err", err)
		return
	}
	sc.w = newFrameWriter(conn, sc.s.cfg.WriteTimeout, &sc.s.stats)
	sc.tc, _ = conn.(*tls.Conn)
	sc.wg.Add(1)
	go sc.readRequests(bufio.NewReaderSize(conn, bufSize))
	err = <-sc.ended
	switch {
	case errors.Is(err, ErrBadFrame) || errors.Is(err, ErrFrameTooLarge):
		sc.s.stats.framesRejected.Add(1)
		sc.s.cfg.Logger.Warn("rpc: closing connection after bad frame", "remote", sc.remote, "err", err)
	case err != nil && !errors.Is(err, io.EOF) && !errIsClosedConn(err) && sc.ctx.Err() == nil:
		sc.s.cfg.Logger.Debug("rpc: connection ended", "remote", sc.remote, "err", err)
	}
}

// handshake runs the server side of TLS, if configured, within DialTimeout.
func (sc *serverConn) handshake() (net.Conn, error) {
	if sc.s.cfg.TLS == nil {
		return sc.nc, nil
	}
	ctx, cancel := context.WithTimeout(sc.ctx, sc.s.cfg.DialTimeout)
	defer cancel()
	tc := tls.Server(sc.nc, sc.s.cfg.TLS)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	return tc, nil
}

// readRequests reads requests until one needs a handler that may block,
// then hands the reading on to a new goroutine and handles that request
// itself. Reading pauses while MaxInFlight handlers run. The reader that
// meets the end of the connection reports why on ended. Holds one count of
// sc.wg.
func (sc *serverConn) readRequests(br *bufio.Reader) {
	defer sc.wg.Done()
	for {
		// A request already whole in br's buffer goes to the FastHandler
		// as it lies there: no copy and no allocation for its body.
		triedFast := false
		if h, body, ok := peekFrame(br, sc.s.cfg.MaxFrame); ok && h.kind == kindRequest {
			if sc.serveFast(br, h, body, true) {
				continue
			}
			triedFast = true
		}
		h, body, err := readFrame(br, sc.s.cfg.MaxFrame)
		if err != nil {
			sc.ended <- err
			return
		}
		if h.kind != kindRequest {
			sc.ended <- fmt.Errorf("rpc: frame kind %d sent to a server: %w", h.kind, ErrBadFrame)
			return
		}
		if !triedFast && sc.serveFast(br, h, body, false) {
			continue
		}
		sc.s.stats.bytesIn.Add(uint64(headerLen + len(body)))
		sc.s.stats.calls.Add(1)
		// Replies held for the requests before this one must not wait for
		// a handler slot or for this handler.
		if err := sc.w.flush(); err != nil {
			sc.nc.Close() // the stream is corrupt; the reader will exit
		}
		select {
		case sc.sem <- struct{}{}:
		case <-sc.ctx.Done():
			sc.ended <- sc.ctx.Err()
			return
		}
		// From here on this goroutine never touches br (or the scratch
		// buffer) again: the next reader owns them.
		sc.wg.Add(1)
		go sc.readRequests(br)
		sc.handle(h, body)
		return
	}
}

// handle runs the handler for one request and writes its reply.
func (sc *serverConn) handle(h header, body []byte) {
	defer func() { <-sc.sem }()
	ctx := sc.ctx
	if h.aux > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(h.aux)*time.Millisecond)
		defer cancel()
	}
	resp, err := sc.invoke(ctx, h.method, body)
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		// The caller's deadline has passed (the server's copy of it is never
		// earlier): it has stopped waiting, so save the bandwidth.
		return
	}
	if err == nil && len(resp) > sc.s.cfg.MaxFrame {
		err = fmt.Errorf("rpc: reply of %d bytes exceeds MaxFrame %d", len(resp), sc.s.cfg.MaxFrame)
	}
	out := header{kind: kindResponse, method: h.method, id: h.id}
	if err != nil {
		sc.s.stats.errors.Add(1)
		code, msg := toRemote(err)
		out.kind, out.aux, resp = kindError, uint32(code), []byte(msg)
	}
	if err := sc.w.write(out, resp); err != nil {
		sc.nc.Close() // the stream is corrupt; the reader will exit
	}
}

// serveFast answers h inline when the Handler is a FastHandler that can.
// inBuf: body lies in br's buffer (peekFrame) and the frame is consumed
// from br here once answered; otherwise it was read already. A reply may
// wait in the writer's buffer to go out with the next one's in one write
// when the next request has arrived whole (arrived, asked once body is no
// longer needed); every reply goes out before the reader next waits for the
// connection (frameBuffered holds until then) or for a handler.
func (sc *serverConn) serveFast(br *bufio.Reader, h header, body []byte, inBuf bool) (done bool) {
	fh, ok := sc.s.h.(FastHandler)
	if !ok {
		return false
	}
	defer func() {
		if r := recover(); r != nil {
			sc.s.cfg.Logger.Error("rpc: fast handler panicked", "method", h.method,
				"remote", sc.remote, "panic", r, "stack", string(debug.Stack()))
			done = false // let the normal path answer (or report) it
		}
	}()
	resp, ok := fh.ServeFast(h.method, body, sc.scratch[:0])
	if !ok || len(resp) > sc.s.cfg.MaxFrame {
		return false
	}
	if inBuf {
		br.Discard(headerLen + len(body)) // buffered: cannot fail
	}
	sc.s.stats.bytesIn.Add(uint64(headerLen + len(body)))
	sc.s.stats.calls.Add(1)
	send := sc.w.write
	if sc.arrived(br) {
		send = sc.w.hold
	}
	if err := send(header{kind: kindResponse, method: h.method, id: h.id}, resp); err != nil {
		sc.nc.Close()
	}
	if n := len(resp); n > cap(sc.scratch) && n <= maxScratch {
		// The reply outgrew buf: the next one of its size fits.
		sc.scratch = make([]byte, 0, n+n/4)
	}
	return true
}

// invoke calls the Handler, turning a panic into a CodeInternal error.
func (sc *serverConn) invoke(ctx context.Context, method uint8, body []byte) (resp []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			sc.s.cfg.Logger.Error("rpc: handler panicked", "method", method,
				"remote", sc.remote, "panic", r, "stack", string(debug.Stack()))
			resp, err = nil, &RemoteError{Code: CodeInternal, Msg: "rpc: handler panicked"}
		}
	}()
	return sc.s.h.ServeRPC(ctx, method, body)
}

// arrived reports whether the whole of the next request has arrived, so
// that reading it will not wait. TLS hands over one record per read, while
// a client's concurrent requests often come as one record each: what is not
// in br yet may already be in TLS's own buffer. A read with a deadline in
// the past takes it from there, or fails at once without a system call (a
// timeout does not break a TLS connection); the reader is then no worse off
// than before. Reader goroutine only.
func (sc *serverConn) arrived(br *bufio.Reader) bool {
	if frameBuffered(br) {
		return true
	}
	if sc.tc == nil || br.Buffered() > 0 {
		return false
	}
	if sc.tc.SetReadDeadline(aLongTimeAgo) != nil {
		return false
	}
	br.Peek(headerLen) // a timeout here is the expected answer "not yet"
	if sc.tc.SetReadDeadline(time.Time{}) != nil {
		return false
	}
	return frameBuffered(br)
}

// frameBuffered reports whether br holds the whole of the next frame, so
// that reading it will not wait for the connection.
func frameBuffered(br *bufio.Reader) bool {
	n := br.Buffered()
	if n < headerLen {
		return false
	}
	b, err := br.Peek(headerLen) // buffered: no read
	return err == nil && n >= headerLen+int(binary.BigEndian.Uint32(b[16:20]))
}
