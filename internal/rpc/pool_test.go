package rpc

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"

	"github.com/e5b1d45c/sessring/internal/testkit"
)

// refusingNet is loopback TCP whose dials fail once refuse is set.
type refusingNet struct {
	tcpNet
	refuse *atomic.Bool
	dials  *atomic.Int32
}

func (n refusingNet) Dial(ctx context.Context, addr string) (net.Conn, error) {
	n.dials.Add(1)
	if n.refuse.Load() {
		return nil, errors.New("test: connection refused")
	}
	return n.tcpNet.Dial(ctx, addr)
}

// A broken first connection whose peer now refuses dials must not fail
// calls the second, healthy connection can carry, nor make them dial.
func TestBrokenFirstConnectionUsesSecond(t *testing.T) {
	testkit.CheckGoroutines(t, testTimeout)
	nw := refusingNet{refuse: new(atomic.Bool), dials: new(atomic.Int32)}
	c, addr, h, blocked := crowdedFirst(t, nw) // so the next call dials the second
	mustEcho(t, c, addr, []byte("fills the second slot"))
	close(h.release)
	if err := <-blocked; err != nil {
		t.Fatalf("blocked call = %v, want nil once released", err)
	}
	if got := nw.dials.Load(); got != 2 {
		t.Fatalf("dials = %d, want 2 (one per slot)", got)
	}

	nw.refuse.Store(true)
	c.peers[addr].slots[0].conn.Load().fail(errors.New("test: first connection broken"))
	failed := 0
	for range 10 {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		if _, err := c.Call(ctx, addr, opEcho, []byte("x")); err != nil {
			failed++
			t.Logf("Call = %v", err)
		}
		cancel()
	}
	if failed > 0 {
		t.Errorf("%d of 10 calls failed with the second connection healthy, want 0", failed)
	}
	if got := nw.dials.Load(); got != 2 {
		t.Errorf("dials = %d, want 2: a free usable connection needs no dial", got)
	}
}

// A usable connection that is busy is a better answer than a dial error.
func TestFailedDialFallsBackToBusyConnection(t *testing.T) {
	testkit.CheckGoroutines(t, testTimeout)
	nw := refusingNet{refuse: new(atomic.Bool), dials: new(atomic.Int32)}
	c, addr, h, blocked := crowdedFirst(t, nw)
	nw.refuse.Store(true) // the second slot cannot be filled
	mustEcho(t, c, addr, []byte("on the crowded first connection"))
	close(h.release)
	if err := <-blocked; err != nil {
		t.Fatalf("blocked call = %v, want nil once released", err)
	}
}

// With MaxInFlight 1 a connection is crowded by one waiting call, not by
// none: serial calls stay on the first connection.
func TestSerialCallsWithMaxInFlightOneUseOneConnection(t *testing.T) {
	testkit.CheckGoroutines(t, testTimeout)
	_, addr := startServer(t, tcpNet{}, "", Config{}, &testHandler{})
	c := newClient(t, tcpNet{}, Config{ConnsPerPeer: 2, MaxInFlight: 1})
	for range 5 {
		mustEcho(t, c, addr, []byte("serial"))
	}
	if got := c.Stats().ConnsTotal; got != 1 {
		t.Errorf("client ConnsTotal = %d after serial calls, want 1", got)
	}
}

// crowdedFirst starts a server and a client of two connections per peer
// dialing through nw, whose first connection is crowded (MaxInFlight/2) by
// one call waiting in the handler: close h.release to let it finish, and
// read its error from blocked.
func crowdedFirst(t *testing.T, nw refusingNet) (c *Client, addr string, h *gateHandler, blocked chan error) {
	t.Helper()
	h = &gateHandler{entered: make(chan struct{}, 1), release: make(chan struct{})}
	_, addr = startServer(t, tcpNet{}, "", Config{}, h)
	c = newClient(t, nw, Config{ConnsPerPeer: 2, MaxInFlight: 2})
	blocked = make(chan error, 1)
	go func() {
		_, err := c.Call(context.Background(), addr, opBlock, nil)
		blocked <- err
	}()
	<-h.entered
	return c, addr, h, blocked
}
