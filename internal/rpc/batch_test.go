package rpc

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/internal/testkit"
)

// TestServerBatchesRepliesToRequestsThatArriveTogether: requests that
// reach the server in one read are answered in one write, and a reply held
// for the next request never waits for a handler that blocks.
func TestServerBatchesRepliesToRequestsThatArriveTogether(t *testing.T) {
	for _, tc := range []struct {
		name       string
		methods    []uint8 // sent in one write
		wantIDs    []uint64
		wantWrites uint64
	}{
		{"three fast requests", []uint8{opEcho, opEcho, opEcho}, []uint64{1, 2, 3}, 1},
		// The reply to 1 is flushed before 2 goes to its (blocking) handler;
		// 3 arrives with nothing after it and is flushed at once.
		{"fast, blocking, fast", []uint8{opEcho, opBlock, opEcho}, []uint64{1, 3}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, addr := startServer(t, tcpNet{}, "", Config{}, &fastEchoHandler{})
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			var out []byte
			for i, m := range tc.methods {
				h := header{kind: kindRequest, method: m, id: uint64(i + 1), length: 3}
				out = append(h.appendTo(out), "abc"...)
			}
			if _, err := nc.Write(out); err != nil {
				t.Fatal(err)
			}
			nc.SetReadDeadline(time.Now().Add(testTimeout))
			br := bufio.NewReader(nc)
			for _, want := range tc.wantIDs {
				h, body, err := readFrame(br, 1<<10)
				if err != nil {
					t.Fatalf("reading the reply to %d: %v", want, err)
				}
				if h.id != want || string(body) != "abc" {
					t.Fatalf("reply id %d body %q, want id %d body %q", h.id, body, want, "abc")
				}
			}
			// The count is taken after the write returns: wait for it.
			testkit.Eventually(t, testTimeout, "the server's writes counted", func() bool { return srv.Stats().Writes >= tc.wantWrites })
			if got := srv.Stats().Writes; got != tc.wantWrites {
				t.Errorf("server made %d writes for %d replies, want %d", got, len(tc.wantIDs), tc.wantWrites)
			}
		})
	}
}

// TestServerBatchesRepliesUnderTLS: TLS hands the server one record per
// read, so requests sent as one record each, arriving together, are seen
// together only by asking TLS whether the next record is already in. They
// must still be answered in far fewer writes than requests.
func TestServerBatchesRepliesUnderTLS(t *testing.T) {
	const n = 50
	cfg := tlsConfig(t, 1)
	srv, addr := startServer(t, tcpNet{}, "", Config{TLS: cfg}, &fastEchoHandler{})
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	cc := &collectConn{Conn: raw}
	ccfg := cfg.Clone()
	ccfg.ServerName = "127.0.0.1"
	tc := tls.Client(cc, ccfg)
	tc.SetDeadline(time.Now().Add(testTimeout))
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	cc.collect = true // each Write below is one record; all go out in one write
	for i := range n {
		h := header{kind: kindRequest, method: opEcho, id: uint64(i + 1), length: 3}
		if _, err := tc.Write(append(h.appendTo(nil), "abc"...)); err != nil {
			t.Fatal(err)
		}
	}
	cc.collect = false
	if _, err := raw.Write(cc.buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(tc)
	for i := range n {
		h, _, err := readFrame(br, 1<<10)
		if err != nil || h.id != uint64(i+1) {
			t.Fatalf("reply %d: id %d, err %v; want id %d", i, h.id, err, i+1)
		}
	}
	// Writes are counted after they return, so a late count only makes
	// this smaller.
	if got := srv.Stats().Writes; got > n/2 {
		t.Errorf("server made %d writes for %d replies to requests that arrived together, want at most %d", got, n, n/2)
	}
}

// collectConn keeps what is written while collect is set instead of
// sending it. Not safe for concurrent use.
type collectConn struct {
	net.Conn
	collect bool
	buf     bytes.Buffer
}

func (c *collectConn) Write(p []byte) (int, error) {
	if c.collect {
		return c.buf.Write(p)
	}
	return c.Conn.Write(p)
}

// TestHeldRequestIsSentByItsCaller: a caller that holds its request back
// for woken callers who never send (they went elsewhere) still sends it
// itself, so no call waits on another.
func TestHeldRequestIsSentByItsCaller(t *testing.T) {
	for _, tr := range transports() {
		t.Run(tr.name, func(t *testing.T) {
			_, addr := startServer(t, tr.net, "", Config{}, &fastEchoHandler{})
			c := newClient(t, tr.net, Config{ConnsPerPeer: 1})
			mustEcho(t, c, addr, []byte("dial"))
			c.mu.RLock()
			cc := c.peers[addr].slots[0].conn.Load()
			c.mu.RUnlock()
			const phantoms = 5
			cc.woken.Store(phantoms) // callers woken that will not send
			for i := range phantoms {
				mustEcho(t, c, addr, []byte{byte(i)})
			}
			if got := cc.woken.Load(); got != 0 {
				t.Errorf("woken = %d after %d sends, want 0", got, phantoms)
			}
		})
	}
}
