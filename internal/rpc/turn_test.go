package rpc

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/internal/testkit"
)

// Tests of the read turn: callers read their own replies off a connection
// nobody else is reading, hand the turn on when they leave, and resume a
// frame another reader left half read.

// heldConn holds back what the server writes until the test releases it, so
// a reply can reach the client in pieces: mid-frame, and under TLS
// mid-record.
type heldConn struct {
	net.Conn
	mu   sync.Mutex // guards held and hold
	held []byte
	hold bool
}

func (c *heldConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.hold {
		return c.Conn.Write(p)
	}
	c.held = append(c.held, p...)
	return len(p), nil
}

// release writes the first n held bytes (all of them when n < 0) and
// returns how many it wrote.
func (c *heldConn) release(t *testing.T, n int) int {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if n < 0 || n > len(c.held) {
		n = len(c.held)
	}
	if _, err := c.Conn.Write(c.held[:n]); err != nil {
		t.Fatalf("server write: %v", err)
	}
	c.held = c.held[n:]
	return n
}

// countingConn counts the bytes the client has read off the wire.
type countingConn struct {
	net.Conn
	read *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

// handServer is a server written by hand: the test decides when each byte
// of a reply goes out.
type handServer struct {
	conn net.Conn // TLS or plain, over held
	held *heldConn
	fr   *frameReader
}

func acceptHand(t *testing.T, l net.Listener, cfg *tls.Config) *handServer {
	t.Helper()
	nc, err := l.Accept()
	if err != nil {
		t.Fatalf("accept: %v", err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(testTimeout))
	hs := &handServer{held: &heldConn{Conn: nc}}
	hs.conn = hs.held
	if cfg != nil {
		tc := tls.Server(hs.held, cfg)
		if err := tc.Handshake(); err != nil {
			t.Fatalf("server handshake: %v", err)
		}
		hs.conn = tc
	}
	hs.held.mu.Lock()
	hs.held.hold = true
	hs.held.mu.Unlock()
	hs.fr = newFrameReader(hs.conn, defaultMaxFrame)
	return hs
}

// reply reads a request and writes (into held) a reply echoing want.
func (hs *handServer) reply(t *testing.T, body []byte) {
	t.Helper()
	h, _, err := hs.fr.next()
	if err != nil {
		t.Fatalf("server read: %v", err)
	}
	if _, err := hs.conn.Write(rawFrame(header{kind: kindResponse, id: h.id}, body)); err != nil {
		t.Fatalf("server write: %v", err)
	}
}

// TestInterruptedReaderKeepsStreamPosition: a caller that gives up while
// half of a reply has been read leaves the stream where it was, so the next
// caller reads the rest of that reply, drops it, and gets its own.
func TestInterruptedReaderKeepsStreamPosition(t *testing.T) {
	for _, sec := range []string{"plain", "tls"} {
		for _, stop := range []string{"cancel", "deadline"} {
			t.Run(sec+"/"+stop, func(t *testing.T) {
				testkit.CheckGoroutines(t, testTimeout)
				var cfg Config
				if sec == "tls" {
					cfg.TLS = tlsConfig(t, 1)
				}
				l := tcpNet{}.Listen(t, "")
				defer l.Close()
				var read atomic.Int64
				cfg.ConnsPerPeer = 1
				cfg.Dial = func(ctx context.Context, addr string) (net.Conn, error) {
					nc, err := tcpNet{}.Dial(ctx, addr)
					if err != nil {
						return nil, err
					}
					return countingConn{Conn: nc, read: &read}, nil
				}
				c, err := NewClient(cfg)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()

				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				if stop == "deadline" {
					ctx, cancel = context.WithTimeout(ctx, 300*time.Millisecond)
					defer cancel()
				}
				first := make(chan error, 1)
				go func() {
					_, err := c.Call(ctx, l.Addr().String(), opEcho, []byte("first"))
					first <- err
				}()
				hs := acceptHand(t, l, cfg.TLS)
				before := read.Load() // handshake bytes
				hs.reply(t, bytes.Repeat([]byte("1"), 1000))
				half := hs.held.release(t, len(hs.held.held)/2)
				if stop == "cancel" {
					testkit.Eventually(t, testTimeout, "half a reply read", func() bool { return read.Load() >= before+int64(half) })
					cancel()
				}
				want := context.Canceled
				if stop == "deadline" {
					want = context.DeadlineExceeded
				}
				if err := <-first; !errors.Is(err, want) {
					t.Fatalf("first Call error = %v, want %v", err, want)
				}

				second := make(chan []byte, 1)
				go func() {
					got, err := c.Call(context.Background(), l.Addr().String(), opEcho, []byte("second"))
					if err != nil {
						t.Errorf("second Call error = %v", err)
					}
					second <- got
				}()
				hs.reply(t, []byte("second reply"))
				hs.held.release(t, -1) // the rest of the first reply, then the second
				if got := <-second; string(got) != "second reply" {
					t.Errorf("second Call = %q, want %q", got, "second reply")
				}
				if got := c.Stats().ConnsTotal; got != 1 {
					t.Errorf("ConnsTotal = %d, want 1 (the stream stayed in step)", got)
				}
			})
		}
	}
}

// TestReadTurnPassesToWaitingCalls: when the caller reading the connection
// leaves (its reply in hand, or giving up) while another call waits, a
// reader goroutine takes over, delivers the waiting reply and exits; if the
// waiting call gives up too, the reader goroutine exits at once.
func TestReadTurnPassesToWaitingCalls(t *testing.T) {
	for _, leave := range []string{"reply", "give up", "both give up"} {
		t.Run(leave, func(t *testing.T) {
			testkit.CheckGoroutines(t, testTimeout)
			releaseA, releaseB := make(chan struct{}), make(chan struct{})
			var onceB sync.Once
			freeB := func() { onceB.Do(func() { close(releaseB) }) }
			defer freeB() // whatever happens, the handlers can finish
			h := HandlerFunc(func(ctx context.Context, method uint8, body []byte) ([]byte, error) {
				switch method {
				case 5:
					<-releaseA
					return []byte("a"), nil
				case 6:
					<-releaseB
					return []byte("b"), nil
				}
				return body, nil
			})
			_, addr := startServer(t, tcpNet{}, "", Config{}, h)
			c := newClient(t, tcpNet{}, Config{ConnsPerPeer: 1})
			defer close(releaseA) // for "give up": lets the handler finish
			mustEcho(t, c, addr, []byte("warm up"))
			cc := c.peers[addr].slots[0].conn.Load()
			turn := func() (reading bool, pending int) {
				cc.mu.Lock()
				defer cc.mu.Unlock()
				return cc.reading, len(cc.pending)
			}

			// start calls method in the background; the call must reply want.
			start := func(method uint8, want string) (<-chan error, context.CancelFunc) {
				ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
				t.Cleanup(cancel)
				res := make(chan error, 1)
				go func() {
					got, err := c.Call(ctx, addr, method, nil)
					if err == nil && string(got) != want {
						err = fmt.Errorf("call %d got %q, want %q", method, got, want)
					}
					res <- err
				}()
				return res, cancel
			}
			resA, cancelA := start(5, "a")
			testkit.Eventually(t, testTimeout, "A reading", func() bool { r, p := turn(); return r && p == 1 })
			resB, cancelB := start(6, "b")
			testkit.Eventually(t, testTimeout, "B waiting", func() bool { _, p := turn(); return p == 2 })

			if leave == "reply" {
				releaseA <- struct{}{}
				if err := <-resA; err != nil {
					t.Fatalf("call A: %v", err)
				}
			} else {
				cancelA() // "give up", "both give up"
				if err := <-resA; !errors.Is(err, context.Canceled) {
					t.Fatalf("call A error = %v, want context.Canceled", err)
				}
			}
			if r, p := turn(); !r || p != 1 {
				t.Fatalf("after A left: reading=%v pending=%d, want a reader for B", r, p)
			}
			if leave == "both give up" {
				cancelB()
				if err := <-resB; !errors.Is(err, context.Canceled) {
					t.Fatalf("call B error = %v, want context.Canceled", err)
				}
				// No frame arrives, yet the reader goroutine must not linger.
				testkit.Eventually(t, testTimeout, "reader goroutine gone", func() bool { r, _ := turn(); return !r })
				freeB()
			} else {
				freeB()
				if err := <-resB; err != nil {
					t.Fatalf("call B: %v", err)
				}
				testkit.Eventually(t, testTimeout, "reader goroutine gone", func() bool { r, _ := turn(); return !r })
			}
			mustEcho(t, c, addr, []byte("after")) // read by its caller again
			if got := c.Stats().ConnsTotal; got != 1 {
				t.Errorf("ConnsTotal = %d, want 1", got)
			}
		})
	}
}

// TestIdleConnectionClosedByPeerIsReplaced: a pooled connection that nobody
// reads is checked before reuse, so a peer that restarted costs a redial,
// not a failed call.
func TestIdleConnectionClosedByPeerIsReplaced(t *testing.T) {
	for _, tc := range []struct {
		name string
		nw   network
		tls  bool
	}{{"tcp", tcpNet{}, false}, {"tcp-tls", tcpNet{}, true}, {"memnet", newMemNet(), false}} {
		t.Run(tc.name, func(t *testing.T) {
			testkit.CheckGoroutines(t, testTimeout)
			// The last call's deadline passes before the peer restarts: a
			// read deadline in the past must not hide the close.
			cfg := Config{ConnsPerPeer: 1, CallTimeout: 100 * time.Millisecond}
			if tc.tls {
				cfg.TLS = tlsConfig(t, 1)
			}
			srv, addr := startServer(t, tc.nw, "", cfg, &testHandler{})
			c := newClient(t, tc.nw, cfg)
			used := time.Now()
			if _, err := c.Call(context.Background(), addr, opEcho, []byte("before")); err != nil {
				t.Fatal(err)
			}
			testkit.Eventually(t, testTimeout, "the last call's deadline to pass", func() bool { return time.Since(used) > 2*cfg.CallTimeout })
			srv.Close()
			startServer(t, tc.nw, addr, cfg, &testHandler{})
			mustEcho(t, c, addr, []byte("after"))
			if s := c.Stats(); s.Errors != 0 || s.ConnsTotal != 2 || s.ConnsOpen != 1 {
				t.Errorf("Errors = %d, ConnsTotal = %d, ConnsOpen = %d; want 0, 2 and 1 (the stale connection replaced, no failed call)",
					s.Errors, s.ConnsTotal, s.ConnsOpen)
			}
		})
	}
}
