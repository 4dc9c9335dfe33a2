package rpc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/internal/memnet"
)

// testTimeout bounds every wait in the tests.
const testTimeout = 5 * time.Second

// network is a way for tests to listen and dial: real loopback TCP or the
// in-memory pipeNet.
type network interface {
	Listen(t testing.TB, addr string) net.Listener
	Dial(ctx context.Context, addr string) (net.Conn, error)
}

type tcpNet struct{}

func (tcpNet) Listen(t testing.TB, addr string) net.Listener {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	return l
}

func (tcpNet) Dial(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", addr)
}

// pipeNet is an in-memory network of net.Pipe connections.
type pipeNet struct {
	mu        sync.Mutex // guards listeners and next
	listeners map[string]*pipeListener
	next      int
}

func newPipeNet() *pipeNet { return &pipeNet{listeners: make(map[string]*pipeListener)} }

func (n *pipeNet) Listen(t testing.TB, addr string) net.Listener {
	t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if addr == "" {
		n.next++
		addr = fmt.Sprintf("pipe-%d", n.next)
	}
	if _, busy := n.listeners[addr]; busy {
		t.Fatalf("listen %s: address in use", addr)
	}
	l := &pipeListener{net: n, addr: pipeAddr(addr), conns: make(chan net.Conn), done: make(chan struct{})}
	n.listeners[addr] = l
	return l
}

func (n *pipeNet) Dial(ctx context.Context, addr string) (net.Conn, error) {
	n.mu.Lock()
	l := n.listeners[addr]
	n.mu.Unlock()
	if l == nil {
		return nil, fmt.Errorf("pipe dial %s: connection refused", addr)
	}
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
		return nil, fmt.Errorf("pipe dial %s: connection refused", addr)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type pipeAddr string

func (a pipeAddr) Network() string { return "pipe" }
func (a pipeAddr) String() string  { return string(a) }

type pipeListener struct {
	net   *pipeNet
	addr  pipeAddr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() {
		close(l.done)
		l.net.mu.Lock()
		delete(l.net.listeners, string(l.addr))
		l.net.mu.Unlock()
	})
	return nil
}

func (l *pipeListener) Addr() net.Addr { return l.addr }

// transports lists the networks every transport-level test runs on.
func transports() []struct {
	name string
	net  network
} {
	return []struct {
		name string
		net  network
	}{
		{"tcp", tcpNet{}},
		{"pipe", newPipeNet()},
		{"memnet", newMemNet()},
	}
}

// memNet is internal/memnet's in-memory network: a server host and a
// client host.
type memNet struct{ server, client *memnet.Host }

func newMemNet() memNet {
	n := memnet.New(1)
	return memNet{server: n.Host("10.0.0.1"), client: n.Host("10.0.0.2")}
}

func (n memNet) Listen(t testing.TB, addr string) net.Listener {
	t.Helper()
	if addr == "" {
		addr = n.server.IP() + ":0"
	}
	l, err := n.server.Listen(addr)
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	return l
}

func (n memNet) Dial(ctx context.Context, addr string) (net.Conn, error) {
	return n.client.Dial(ctx, addr)
}

// startServer serves h on a fresh listener of nw (addr "" picks one) and
// closes the server at cleanup, checking Serve's result.
func startServer(t testing.TB, nw network, addr string, cfg Config, h Handler) (*Server, string) {
	t.Helper()
	s, err := NewServer(cfg, h)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	l := nw.Listen(t, addr)
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve() = %v, want ErrServerClosed", err)
		}
	})
	return s, l.Addr().String()
}

// newClient returns a Client dialling through nw, closed at cleanup.
func newClient(t testing.TB, nw network, cfg Config) *Client {
	t.Helper()
	cfg.Dial = nw.Dial
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Test opcodes understood by testHandler.
const (
	opEcho  uint8 = 1 // reply with the body
	opBlock uint8 = 2 // block until ctx is done, then return ctx.Err()
	opFail  uint8 = 3 // return the error named by the body
)

// testHandler serves the test opcodes and counts calls.
type testHandler struct {
	mu    sync.Mutex // guards calls
	calls int
}

func (h *testHandler) ServeRPC(ctx context.Context, method uint8, body []byte) ([]byte, error) {
	h.mu.Lock()
	h.calls++
	h.mu.Unlock()
	switch method {
	case opEcho:
		return body, nil
	case opBlock:
		<-ctx.Done()
		return nil, ctx.Err()
	case opFail:
		return nil, errors.New(string(body))
	}
	return nil, &RemoteError{Code: CodeUnknownMethod, Msg: fmt.Sprintf("method %d", method)}
}

// fastEchoHandler answers opEcho on the connection's reader goroutine,
// building the reply in the server's scratch buffer; it panics on opFail,
// which must send the request down the ServeRPC path.
type fastEchoHandler struct{ testHandler }

func (h *fastEchoHandler) ServeFast(method uint8, body, buf []byte) ([]byte, bool) {
	switch method {
	case opEcho:
		return append(buf, body...), true
	case opFail:
		panic("fast path refuses opFail")
	}
	return nil, false
}

func (h *testHandler) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls
}

// mustEcho calls opEcho and checks the reply.
func mustEcho(t *testing.T, c *Client, addr string, body []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	got, err := c.Call(ctx, addr, opEcho, body)
	if err != nil {
		t.Fatalf("Call(echo, %d bytes) error = %v, want nil", len(body), err)
	}
	if !bytes.Equal(got, body) {
		t.Fatalf("Call(echo, %d bytes) = %d bytes, want the same bytes back", len(body), len(got))
	}
}

// echoConcurrently runs workers goroutines that each make perWorker opEcho
// calls with body(w, i) and reports every call that failed or came back
// different.
func echoConcurrently(t *testing.T, c *Client, addr string, workers, perWorker int, body func(w, i int) []byte) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				b := body(w, i)
				got, err := c.Call(context.Background(), addr, opEcho, b)
				if err == nil && !bytes.Equal(got, b) {
					err = fmt.Errorf("worker %d call %d: echo of %d bytes came back as %d different bytes", w, i, len(b), len(got))
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// rawFrame encodes a frame for tests that speak the protocol by hand.
func rawFrame(h header, body []byte) []byte {
	h.length = uint32(len(body))
	return append(h.appendTo(nil), body...)
}
