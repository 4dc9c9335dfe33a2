package rpc

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"testing"

	"github.com/e5b1d45c/sessring/internal/testkit"
)

// gateHandler blocks opBlock until release is closed (or ctx ends) and
// echoes everything else.
type gateHandler struct {
	entered chan struct{} // receives once per opBlock call
	release chan struct{}
}

func (h *gateHandler) ServeRPC(ctx context.Context, method uint8, body []byte) ([]byte, error) {
	if method != opBlock {
		return body, nil
	}
	h.entered <- struct{}{}
	select {
	case <-h.release:
		return nil, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// A frame larger than the buffer that is stuck on the first connection (the
// server stopped reading it: its only handler slot is taken) must not hold
// up a small call: the call goes to the second connection.
func TestLargeFrameSendsCallsToNextConnection(t *testing.T) {
	testkit.CheckGoroutines(t, testTimeout)
	const big = 24 << 20 // more than loopback's socket buffers hold
	h := &gateHandler{entered: make(chan struct{}, 1), release: make(chan struct{})}
	srv, addr := startServer(t, tcpNet{}, "", Config{MaxInFlight: 1, MaxFrame: 2 * big}, h)
	c := newClient(t, tcpNet{}, Config{ConnsPerPeer: 2, MaxFrame: 2 * big})

	results := make(chan error, 3)
	call := func(method uint8, body []byte) {
		// Moving the large frames takes a while under -race.
		ctx, cancel := context.WithTimeout(context.Background(), 6*testTimeout)
		defer cancel()
		got, err := c.Call(ctx, addr, method, body)
		if err == nil && method == opEcho && !bytes.Equal(got, body) {
			err = io.ErrUnexpectedEOF
		}
		results <- err
	}
	go call(opBlock, nil) // takes the connection's only handler slot
	<-h.entered
	bodyB := bytes.Repeat([]byte("b"), big)
	go call(opEcho, bodyB) // read by the server, which then waits for the slot
	testkit.Eventually(t, testTimeout, "the server read the large request", func() bool {
		return srv.Stats().BytesIn >= uint64(2*headerLen+big)
	})
	go call(opEcho, bytes.Repeat([]byte("c"), big)) // cannot all be written
	first := c.peers[addr].slots[0].conn.Load()
	testkit.Eventually(t, testTimeout, "the first connection bulky", first.bulky)

	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if got, err := c.Call(ctx, addr, opEcho, []byte("small")); err != nil || string(got) != "small" {
		t.Fatalf("small Call behind a stuck large frame = %q, %v; want \"small\", nil", got, err)
	}
	if got := c.Stats().ConnsTotal; got != 2 {
		t.Errorf("client ConnsTotal = %d, want 2 (the small call on the second connection)", got)
	}
	close(h.release)
	for range 3 {
		if err := <-results; err != nil {
			t.Errorf("call stuck behind the gate = %v, want nil once released", err)
		}
	}
	if first.bulky() {
		t.Errorf("first connection still bulky after its large frames went through")
	}
}

// The reader marks a connection bulky while a large body is coming in, and
// clears the mark once it is complete.
func TestFrameReaderMarksLargeBody(t *testing.T) {
	pr, pw := io.Pipe()
	fr := newFrameReader(pr, 1<<20)
	body := bytes.Repeat([]byte("x"), 4*bufSize)
	h := header{kind: kindResponse, id: 7, length: uint32(len(body))}
	frame := append(h.appendTo(nil), body...)
	done := make(chan error, 1)
	go func() {
		_, got, err := fr.next()
		if err == nil && !bytes.Equal(got, body) {
			err = io.ErrUnexpectedEOF
		}
		done <- err
	}()
	if _, err := pw.Write(frame[:headerLen+bufSize]); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, testTimeout, "large body marked", fr.large.Load)
	if _, err := pw.Write(frame[headerLen+bufSize:]); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("next() = %v, want the frame", err)
	}
	if fr.large.Load() {
		t.Errorf("large still set after the body was read")
	}
}

// decliningHandler declines every request on the fast path, counting the
// offers, and echoes through ServeRPC.
type decliningHandler struct {
	testHandler
	offers atomic.Int64
}

func (h *decliningHandler) ServeFast(method uint8, body, buf []byte) ([]byte, bool) {
	h.offers.Add(1)
	return nil, false
}

// A request whose frame lies whole in the read buffer is offered to the
// FastHandler there, and once declined it goes to ServeRPC without a second
// offer, with its own copy of the body.
func TestDeclinedFastRequestOfferedOnce(t *testing.T) {
	testkit.CheckGoroutines(t, testTimeout)
	h := &decliningHandler{}
	_, addr := startServer(t, tcpNet{}, "", Config{}, h)
	c := newClient(t, tcpNet{}, Config{ConnsPerPeer: 1})
	const workers, perWorker = 8, 50
	echoConcurrently(t, c, addr, workers, perWorker, func(w, i int) []byte {
		return fmt.Appendf(nil, "worker %d call %d", w, i)
	})
	if got, calls := h.offers.Load(), h.count(); got != workers*perWorker || calls != workers*perWorker {
		t.Errorf("ServeFast offers = %d, ServeRPC calls = %d; want %d each", got, calls, workers*perWorker)
	}
}

// Calls go to the next connection while half of MaxInFlight calls wait on
// the first: its server may soon stop reading it.
func TestCrowdedConnectionSendsCallsToNext(t *testing.T) {
	testkit.CheckGoroutines(t, testTimeout)
	h := &gateHandler{entered: make(chan struct{}, 2), release: make(chan struct{})}
	_, addr := startServer(t, tcpNet{}, "", Config{}, h)
	c := newClient(t, tcpNet{}, Config{ConnsPerPeer: 2, MaxInFlight: 4})
	results := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := c.Call(context.Background(), addr, opBlock, nil)
			results <- err
		}()
		<-h.entered
	}
	if got := c.Stats().ConnsTotal; got != 1 {
		t.Fatalf("client ConnsTotal = %d with 2 calls waiting, want 1", got)
	}
	mustEcho(t, c, addr, []byte("small"))
	if got := c.Stats().ConnsTotal; got != 2 {
		t.Errorf("client ConnsTotal = %d, want 2 (the call beside 2 waiting ones on the second connection)", got)
	}
	close(h.release)
	for range 2 {
		if err := <-results; err != nil {
			t.Errorf("blocked call = %v, want nil once released", err)
		}
	}
}

// A caller that gives up in the middle of a large reply, with no other
// call waiting, must not leave the rest of it unread: the connection would
// stay bulky (calls moving to the next slot) and the server's writer
// blocked. Someone reads on to the end of the frame, and the connection
// carries the next call.
func TestAbandonedLargeReplyIsDrained(t *testing.T) {
	testkit.CheckGoroutines(t, testTimeout)
	l := tcpNet{}.Listen(t, "")
	t.Cleanup(func() { l.Close() })
	rest := make(chan struct{})
	served := make(chan error, 1)
	go func() { served <- serveSplitReply(l, 4*bufSize, rest) }()
	c := newClient(t, tcpNet{}, Config{ConnsPerPeer: 2})
	addr := l.Addr().String()

	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error, 1)
	go func() {
		_, err := c.Call(ctx, addr, opEcho, []byte("large reply, please"))
		gaveUp <- err
	}()
	testkit.Eventually(t, testTimeout, "the first half of the reply read", func() bool {
		cc := firstConn(c, addr)
		return cc != nil && cc.bulky()
	})
	cancel()
	if err := <-gaveUp; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Call = %v, want context.Canceled", err)
	}
	close(rest)
	first := firstConn(c, addr)
	testkit.Eventually(t, testTimeout, "the rest of the abandoned reply read", func() bool {
		return !first.bulky()
	})
	mustEcho(t, c, addr, []byte("after"))
	if got := c.Stats().ConnsTotal; got != 1 {
		t.Errorf("client ConnsTotal = %d, want 1 (the next call on the drained connection)", got)
	}
	c.Close()
	if err := <-served; err != nil {
		t.Errorf("server: %v", err)
	}
}

// serveSplitReply accepts one connection and answers its first request
// with a size-byte body, sending the second half only once rest is closed;
// later requests are echoed. It returns when the client closes.
func serveSplitReply(l net.Listener, size int, rest <-chan struct{}) error {
	nc, err := l.Accept()
	if err != nil {
		return err
	}
	defer nc.Close()
	br := bufio.NewReader(nc)
	h, _, err := readFrame(br, 1<<20)
	if err != nil {
		return err
	}
	reply := rawFrame(header{kind: kindResponse, method: h.method, id: h.id}, bytes.Repeat([]byte("r"), size))
	half := headerLen + size/2
	if _, err := nc.Write(reply[:half]); err != nil {
		return err
	}
	<-rest
	if _, err := nc.Write(reply[half:]); err != nil {
		return err
	}
	for {
		h, body, err := readFrame(br, 1<<20)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := nc.Write(rawFrame(header{kind: kindResponse, method: h.method, id: h.id}, body)); err != nil {
			return err
		}
	}
}

// firstConn returns the connection in addr's first slot, or nil.
func firstConn(c *Client, addr string) *clientConn {
	c.mu.RLock()
	p := c.peers[addr]
	c.mu.RUnlock()
	if p == nil {
		return nil
	}
	return p.slots[0].conn.Load()
}
