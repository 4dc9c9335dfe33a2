package rpc

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/internal/testkit"
)

func TestMalformedFramesCloseOnlyThatConnection(t *testing.T) {
	req := header{kind: kindRequest, method: opEcho, id: 1}
	valid := rawFrame(req, []byte("hello"))
	withByte := func(i int, b byte) []byte {
		f := rawFrame(req, []byte("hello"))
		f[i] = b
		return f
	}
	tooLarge := rawFrame(req, nil)
	copy(tooLarge[16:], []byte{0xFF, 0xFF, 0xFF, 0xF0}) // claims ~4 GiB, sends nothing
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"length over MaxFrame", tooLarge},
		{"bad magic", withByte(0, 0x00)},
		{"bad version", withByte(1, 9)},
		{"unknown kind", withByte(2, 77)},
		{"response sent to server", withByte(2, byte(kindResponse))},
		{"garbage", []byte("GET / HTTP/1.1\r\nHost: sessring\r\n\r\n")},
		{"truncated header", valid[:headerLen-3]},
		{"truncated body", valid[:len(valid)-2]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testkit.CheckGoroutines(t, testTimeout)
			h := &testHandler{}
			srv, addr := startServer(t, tcpNet{}, "", Config{}, h)
			c := newClient(t, tcpNet{}, Config{ConnsPerPeer: 1})
			mustEcho(t, c, addr, []byte("before"))

			attack(t, addr, tc.data)
			testkit.Eventually(t, testTimeout, "frame rejected", func() bool { return srv.Stats().FramesRejected == 1 })

			mustEcho(t, c, addr, []byte("after"))
			if got := c.Stats().ConnsTotal; got != 1 {
				t.Errorf("client ConnsTotal = %d, want 1 (its connection unaffected)", got)
			}
			if got := h.count(); got != 2 {
				t.Errorf("handler calls = %d, want 2 (only the well-formed ones)", got)
			}
		})
	}
}

// attack writes data on a raw connection, half-closes it (so a truncated
// frame ends in EOF), and checks the server closes the connection.
func attack(t *testing.T, addr string, data []byte) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(testTimeout))
	if _, err := nc.Write(data); err != nil {
		t.Fatalf("write: %v", err)
	}
	nc.(*net.TCPConn).CloseWrite()
	if n, err := io.Copy(io.Discard, nc); err != nil || n != 0 {
		t.Errorf("server sent %d bytes, err %v; want it to close the connection without a reply", n, err)
	}
}

func TestServerKilledMidCall(t *testing.T) {
	for _, tr := range transports() {
		t.Run(tr.name, func(t *testing.T) {
			testkit.CheckGoroutines(t, testTimeout)
			h := &testHandler{}
			srv, addr := startServer(t, tr.net, "", Config{}, h)
			c := newClient(t, tr.net, Config{ConnsPerPeer: 1, DialTimeout: 200 * time.Millisecond})
			go func() {
				testkit.Eventually(t, testTimeout, "blocking call started", func() bool { return h.count() == 1 })
				srv.Close()
			}()
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			_, err := c.Call(ctx, addr, opBlock, nil)
			if !errors.Is(err, ErrUnreachable) {
				t.Fatalf("Call during server shutdown error = %v, want ErrUnreachable", err)
			}
			if errors.Is(err, ErrNotSent) {
				t.Errorf("Call during server shutdown error = %v wraps ErrNotSent, but the handler ran", err)
			}
			if took := time.Since(start); took > time.Second {
				t.Errorf("Call failed after %v, want promptly", took)
			}
			if _, err := c.Call(ctx, addr, opEcho, nil); !errors.Is(err, ErrUnreachable) || !errors.Is(err, ErrNotSent) {
				t.Errorf("Call while server down error = %v, want ErrUnreachable and ErrNotSent", err)
			}

			startServer(t, tr.net, addr, Config{}, &testHandler{})
			mustEcho(t, c, addr, []byte("back"))
		})
	}
}

func TestUnreachable(t *testing.T) {
	testkit.CheckGoroutines(t, testTimeout)
	l := tcpNet{}.Listen(t, "")
	addr := l.Addr().String()
	l.Close() // nothing listens here now
	c := newClient(t, tcpNet{}, Config{})
	_, err := c.Call(context.Background(), addr, opEcho, nil)
	if !errors.Is(err, ErrUnreachable) || !errors.Is(err, ErrNotSent) {
		t.Errorf("Call(closed port) error = %v, want ErrUnreachable and ErrNotSent", err)
	}
	if got := c.Stats().Errors; got != 1 {
		t.Errorf("Stats().Errors = %d, want 1", got)
	}
}

func TestCloseWaitsForHandlers(t *testing.T) {
	testkit.CheckGoroutines(t, testTimeout)
	started, cancelled, release := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var returned bool
	h := HandlerFunc(func(ctx context.Context, method uint8, body []byte) ([]byte, error) {
		close(started)
		<-ctx.Done()
		close(cancelled)
		<-release // slow cleanup after cancellation
		returned = true
		return nil, ctx.Err()
	})
	srv, addr := startServer(t, tcpNet{}, "", Config{}, h)
	c := newClient(t, tcpNet{}, Config{})
	go c.Call(context.Background(), addr, 1, nil)
	<-started

	closed := make(chan struct{})
	go func() {
		srv.Close()
		close(closed)
	}()
	<-cancelled
	select {
	case <-closed:
		t.Fatal("Server.Close returned while a handler was still running")
	default:
	}
	close(release)
	<-closed
	if !returned {
		t.Error("handler had not returned when Close returned")
	}
	if err := srv.Close(); err != nil {
		t.Errorf("second Close() = %v, want nil", err)
	}
}

func TestClientClose(t *testing.T) {
	testkit.CheckGoroutines(t, testTimeout)
	h := &testHandler{}
	_, addr := startServer(t, tcpNet{}, "", Config{}, h)
	c := newClient(t, tcpNet{}, Config{})
	go func() {
		testkit.Eventually(t, testTimeout, "blocking call started", func() bool { return h.count() == 1 })
		c.Close()
	}()
	if _, err := c.Call(context.Background(), addr, opBlock, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Call interrupted by Close error = %v, want ErrClosed", err)
	}
	if _, err := c.Call(context.Background(), addr, opEcho, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Call after Close error = %v, want ErrClosed", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close() = %v, want nil", err)
	}
	if got := c.Stats().ConnsOpen; got != 0 {
		t.Errorf("ConnsOpen = %d after Close, want 0", got)
	}
}

func TestForgetAndIdleTimeoutCloseConnections(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cfg    Config
		forget bool
	}{
		{"forget", Config{}, true},
		{"idle timeout", Config{IdleTimeout: 30 * time.Millisecond}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testkit.CheckGoroutines(t, testTimeout)
			srv, addr := startServer(t, tcpNet{}, "", Config{}, &testHandler{})
			c := newClient(t, tcpNet{}, tc.cfg)
			mustEcho(t, c, addr, []byte("one"))
			if tc.forget {
				c.Forget(addr)
			}
			testkit.Eventually(t, testTimeout, "client connections closed", func() bool { return c.Stats().ConnsOpen == 0 })
			testkit.Eventually(t, testTimeout, "server connections closed", func() bool { return srv.Stats().ConnsOpen == 0 })
			mustEcho(t, c, addr, []byte("two"))
			if got := c.Stats().ConnsTotal; got != 2 {
				t.Errorf("ConnsTotal = %d, want 2 (redialled)", got)
			}
		})
	}
}

func TestIdleTimeoutSparesBusyConnections(t *testing.T) {
	testkit.CheckGoroutines(t, testTimeout)
	h := &testHandler{}
	_, addr := startServer(t, tcpNet{}, "", Config{}, h)
	c := newClient(t, tcpNet{}, Config{ConnsPerPeer: 1, IdleTimeout: 10 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	// The call outlives several idle periods; the reaper must not close it.
	if _, err := c.Call(ctx, addr, opBlock, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("long Call error = %v, want context.DeadlineExceeded (not ErrUnreachable)", err)
	}
}

func TestStalledPeerCannotBlockWriters(t *testing.T) {
	testkit.CheckGoroutines(t, testTimeout)
	nw := newPipeNet()
	l := nw.Listen(t, "")
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		if nc, err := l.Accept(); err == nil {
			accepted <- nc // held open, never read: net.Pipe writes block
		}
	}()
	c := newClient(t, nw, Config{WriteTimeout: 50 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	start := time.Now()
	if _, err := c.Call(ctx, l.Addr().String(), opEcho, []byte("never read")); !errors.Is(err, ErrUnreachable) {
		t.Errorf("Call to a peer that never reads error = %v, want ErrUnreachable", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("Call took %v, want about WriteTimeout (50ms)", took)
	}
	(<-accepted).Close()
}
