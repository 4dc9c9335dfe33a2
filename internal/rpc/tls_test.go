package rpc

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"testing"

	"github.com/e5b1d45c/sessring/internal/peertls"
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
			checkLeaks(t)
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
			checkLeaks(t)
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
				waitFor(t, "server handshake failure counted", func() bool {
					return srv.Stats().HandshakesFailed == 1
				})
			} else {
				waitFor(t, "server frame rejection counted", func() bool {
					return srv.Stats().FramesRejected == 1
				})
			}
			if got := h.count(); got != 0 {
				t.Errorf("handler calls = %d, want 0", got)
			}
		})
	}
}
