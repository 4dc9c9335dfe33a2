package rpc

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/internal/peertls"
	"github.com/e5b1d45c/sessring/internal/testkit"
)

func tlsConfig(t testing.TB, fill byte) *tls.Config {
	t.Helper()
	cfg, err := peertls.FromSecret(bytes.Repeat([]byte{fill}, 32))
	if err != nil {
		t.Fatalf("FromSecret: %v", err)
	}
	return cfg
}

func TestTLSSameSecret(t *testing.T) {
	for _, tr := range transports() {
		t.Run(tr.name, func(t *testing.T) {
			testkit.CheckGoroutines(t, testTimeout)
			_, addr := startServer(t, tr.net, "", Config{TLS: tlsConfig(t, 1)}, &testHandler{})
			c := newClient(t, tr.net, Config{TLS: tlsConfig(t, 1)})
			for _, n := range []int{0, 100, 64 << 10} {
				mustEcho(t, c, addr, bytes.Repeat([]byte{'t'}, n))
			}
		})
	}
}

func TestTLSRejectsOutsiders(t *testing.T) {
	for _, tc := range []struct {
		name             string
		server, client   *tls.Config
		wantClientReject bool // the client detects the mismatch in its handshake
	}{
		{"wrong secret", tlsConfig(t, 1), tlsConfig(t, 2), true},
		{"plaintext client", tlsConfig(t, 1), nil, false},
		{"plaintext server", nil, tlsConfig(t, 1), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testkit.CheckGoroutines(t, testTimeout)
			h := &testHandler{}
			srv, addr := startServer(t, tcpNet{}, "", Config{TLS: tc.server}, h)
			c := newClient(t, tcpNet{}, Config{TLS: tc.client})
			_, err := c.Call(context.Background(), addr, opEcho, []byte("let me in"))
			if !errors.Is(err, ErrUnreachable) {
				t.Errorf("Call error = %v, want ErrUnreachable", err)
			}
			if tc.wantClientReject && !errors.Is(err, peertls.ErrPeerUnauthenticated) {
				t.Errorf("Call error = %v, want it to wrap peertls.ErrPeerUnauthenticated", err)
			}
			if tc.server != nil {
				testkit.Eventually(t, testTimeout, "server handshake failure counted", func() bool {
					return srv.Stats().HandshakesFailed == 1
				})
			} else {
				testkit.Eventually(t, testTimeout, "server frame rejection counted", func() bool {
					return srv.Stats().FramesRejected == 1
				})
			}
			if got := h.count(); got != 0 {
				t.Errorf("handler calls = %d, want 0", got)
			}
		})
	}
}

// writeCountingConn counts the writes made to the underlying connection.
type writeCountingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c writeCountingConn) Write(b []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(b)
}

// TestTLSFramesGoOutWhole: on a fresh connection crypto/tls would cut an
// 8 KiB frame into records of one TCP segment, one write each; the client
// and server send it as one record.
func TestTLSFramesGoOutWhole(t *testing.T) {
	testkit.CheckGoroutines(t, testTimeout)
	_, addr := startServer(t, tcpNet{}, "", Config{TLS: tlsConfig(t, 1)}, &testHandler{})
	var writes atomic.Int64
	c := newClient(t, tcpNet{}, Config{TLS: tlsConfig(t, 1), ConnsPerPeer: 1})
	dial := c.cfg.Dial
	c.cfg.Dial = func(ctx context.Context, addr string) (net.Conn, error) {
		nc, err := dial(ctx, addr)
		if err != nil {
			return nil, err
		}
		return writeCountingConn{nc, &writes}, nil
	}
	mustEcho(t, c, addr, []byte("handshake"))
	before := writes.Load()
	mustEcho(t, c, addr, bytes.Repeat([]byte{'r'}, 8<<10))
	if n := writes.Load() - before; n != 1 {
		t.Errorf("an 8 KiB request took %d writes on a fresh TLS connection, want 1", n)
	}
}

// TestUnauthenticatedConnectionsBounded: connections that never complete
// the TLS handshake hold a listener slot at most DialTimeout, and beyond
// MaxConns a new connection is closed at once; a member can connect again
// once a slot is free.
func TestUnauthenticatedConnectionsBounded(t *testing.T) {
	testkit.CheckGoroutines(t, testTimeout)
	cfg := Config{TLS: tlsConfig(t, 1), MaxConns: 2, DialTimeout: time.Minute}
	srv, addr := startServer(t, tcpNet{}, "", cfg, &testHandler{})
	idle := make([]net.Conn, 2)
	for i := range idle {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		idle[i] = c
	}
	testkit.Eventually(t, testTimeout, "two idle connections accepted", func() bool { return srv.Stats().ConnsOpen == 2 })
	extra, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	extra.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := extra.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read on a connection beyond MaxConns = %v, want it closed by the server", err)
	}
	// The server counts the refusal just after closing the connection.
	testkit.Eventually(t, testTimeout, "ConnsRefused = 1", func() bool { return srv.Stats().ConnsRefused == 1 })
	idle[0].Close()
	testkit.Eventually(t, testTimeout, "slot freed", func() bool { return srv.Stats().ConnsOpen == 1 })
	c := newClient(t, tcpNet{}, Config{TLS: tlsConfig(t, 1), ConnsPerPeer: 1})
	mustEcho(t, c, addr, []byte("member"))
}

// TestHandshakeDeadline: a connection that sends nothing is closed once
// DialTimeout passes without a completed handshake.
func TestHandshakeDeadline(t *testing.T) {
	testkit.CheckGoroutines(t, testTimeout)
	cfg := Config{TLS: tlsConfig(t, 1), DialTimeout: 100 * time.Millisecond}
	srv, addr := startServer(t, tcpNet{}, "", cfg, &testHandler{})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read on a silent connection = %v, want it closed by the server", err)
	}
	testkit.Eventually(t, testTimeout, "handshake failure counted", func() bool { return srv.Stats().HandshakesFailed == 1 })
}
