package rpc

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"
)

// Handler serves requests arriving at a Server.
//
// ServeRPC is called concurrently, from one goroutine per request, up to
// Config.MaxInFlight at a time per connection. ctx is cancelled when the
// caller's deadline (sent with the request) passes, when the connection
// breaks, and when the Server closes; Server.Close waits for ServeRPC to
// return, so handlers must honour ctx.
type Handler interface {
	// ServeRPC handles one request. method is an application-defined opcode;
	// body is owned by the handler. The returned body is not retained after
	// ServeRPC returns; nil means an empty reply.
	//
	// A returned error is sent to the caller: if it is (or wraps) a
	// *RemoteError its Code and Msg are kept, otherwise Code=CodeInternal and
	// Msg=err.Error(). A panic is recovered, logged and sent as CodeInternal.
	ServeRPC(ctx context.Context, method uint8, body []byte) ([]byte, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, method uint8, body []byte) ([]byte, error)

// ServeRPC calls f.
func (f HandlerFunc) ServeRPC(ctx context.Context, method uint8, body []byte) ([]byte, error) {
	return f(ctx, method, body)
}

var _ Handler = HandlerFunc(nil)

// FastHandler is optionally implemented by a Handler whose cheapest
// requests can be answered without blocking (no I/O, no waiting). ServeFast
// runs on the connection's reader goroutine, saving the start of another
// goroutine to read on; it returns ok=false to send the request down the normal
// ServeRPC path. It must not block: while it runs, no other request on the
// connection is read.
//
// buf is an empty scratch buffer owned by the connection: a handler that
// builds its reply by appending to buf saves an allocation per reply (the
// Server grows buf to fit the replies it sees, up to a bound). body is
// read-only and valid only during the call: it may lie in the connection's
// read buffer, next to requests not yet served, which is reused as soon as
// ServeFast returns. ServeFast must not modify or retain body, must not
// retain buf or resp, and resp must not share memory with body.
type FastHandler interface {
	ServeFast(method uint8, body, buf []byte) (resp []byte, ok bool)
}

// Accept retry bounds for transient errors such as running out of file
// descriptors.
const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
)

// Server accepts peer connections and runs a Handler for each request.
type Server struct {
	cfg    Config
	h      Handler
	stats  counters
	ctx    context.Context // parent of every handler ctx; cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // Serve loops and connection goroutines

	mu        sync.Mutex // guards closed, listeners and conns
	closed    bool
	listeners map[net.Listener]*int // listener -> connections open from it
	conns     map[*serverConn]struct{}
}

// NewServer returns a Server that runs h for every request. Call Serve to
// start accepting.
func NewServer(cfg Config, h Handler) (*Server, error) {
	if h == nil {
		return nil, fmt.Errorf("rpc: nil Handler: %w", ErrBadConfig)
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		cfg:       cfg,
		h:         h,
		ctx:       ctx,
		cancel:    cancel,
		listeners: make(map[net.Listener]*int),
		conns:     make(map[*serverConn]struct{}),
	}, nil
}

// Serve accepts connections on l until Close, running the TLS handshake on
// each when Config.TLS is set. It returns ErrServerClosed after Close, or
// the listener's error if it fails for another reason. Serve may be called
// for several listeners; Close closes them all.
func (s *Server) Serve(l net.Listener) error {
	open := s.trackListener(l)
	if open == nil {
		l.Close()
		return ErrServerClosed
	}
	defer s.wg.Done()
	backoff := time.Duration(0)
	for {
		nc, err := l.Accept()
		if err == nil {
			backoff = 0
			s.startConn(nc, open)
			continue
		}
		if s.isClosed() {
			return ErrServerClosed
		}
		if !isTemporary(err) {
			s.untrackListener(l)
			return fmt.Errorf("rpc: accept on %s: %w", l.Addr(), err)
		}
		backoff = min(max(2*backoff, acceptBackoffMin), acceptBackoffMax)
		s.cfg.Logger.Warn("rpc: accept failed, retrying", "err", err, "in", backoff)
		if !s.sleep(backoff) {
			return ErrServerClosed
		}
	}
}

// isTemporary reports whether an Accept error is worth retrying, the way
// net/http decides it.
func isTemporary(err error) bool {
	te, ok := err.(interface{ Temporary() bool })
	return ok && te.Temporary()
}

// sleep waits for d, or returns false when the Server closes first.
func (s *Server) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.ctx.Done():
		return false
	}
}

// Close stops the Server: it closes the listeners and connections, cancels
// every handler's ctx, and returns after Serve loops, connection
// goroutines and handlers have all returned. Close is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return nil
	}
	s.closed = true
	listeners, conns := s.listeners, s.conns
	s.listeners, s.conns = nil, nil
	s.mu.Unlock()

	for l := range listeners {
		l.Close()
	}
	// Connections close before handlers are cancelled, so a handler
	// returning early on cancellation cannot get a reply out: callers see
	// the connection break (ErrUnreachable), not a cancellation error.
	for sc := range conns {
		sc.nc.Close()
	}
	s.cancel()
	s.wg.Wait()
	return nil
}

// Stats returns a snapshot of the Server's counters.
func (s *Server) Stats() Stats { return s.stats.snapshot() }

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// trackListener registers l and counts its Serve loop in wg, unless closed.
// It returns l's count of open connections, nil when closed.
func (s *Server) trackListener(l net.Listener) *int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	open := new(int)
	s.listeners[l] = open
	s.wg.Add(1)
	return open
}

func (s *Server) untrackListener(l net.Listener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.listeners, l)
}

// startConn starts serving an accepted connection, unless closed or its
// listener's open count is at MaxConns.
func (s *Server) startConn(nc net.Conn, open *int) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		nc.Close()
		return
	}
	if *open >= s.cfg.MaxConns {
		s.mu.Unlock()
		nc.Close()
		if s.stats.connsRefused.Add(1) == 1 {
			s.cfg.Logger.Warn("rpc: connection limit reached, refusing connections", "max", s.cfg.MaxConns)
		}
		return
	}
	*open++
	setUnackedTimeout(nc, s.cfg.UnackedTimeout)
	sc := newServerConn(s, nc)
	sc.open = open
	s.conns[sc] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	s.stats.connOpened()
	go sc.serve()
}

// dropConn forgets a connection whose goroutine is exiting.
func (s *Server) dropConn(sc *serverConn) {
	s.mu.Lock()
	delete(s.conns, sc)
	*sc.open--
	s.mu.Unlock()
	s.stats.connClosed()
}
