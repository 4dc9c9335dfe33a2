package memnet_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/internal/memnet"
	"github.com/e5b1d45c/sessring/store"
)

// A Host is what a store node uses for all of its traffic.
var _ store.Network = (*memnet.Host)(nil)

func TestHostIdentityAndPorts(t *testing.T) {
	n := memnet.New(1)
	h := n.Host("127.0.0.11")
	if got := n.Host("127.0.0.11"); got != h {
		t.Fatalf("Host(127.0.0.11) twice = %p, %p, want the same host", h, got)
	}
	if got := h.IP(); got != "127.0.0.11" {
		t.Errorf("IP() = %q, want 127.0.0.11", got)
	}
	l1, l2 := listen(t, h), listen(t, h)
	if got, want := l1.Addr().String(), "127.0.0.11:10000"; got != want {
		t.Errorf("first Listen(:0).Addr() = %s, want %s", got, want)
	}
	if got, want := l2.Addr().String(), "127.0.0.11:10001"; got != want {
		t.Errorf("second Listen(:0).Addr() = %s, want %s", got, want)
	}
	l3, err := h.Listen("0.0.0.0:0")
	if err != nil {
		t.Fatalf("Listen(0.0.0.0:0) error = %v", err)
	}
	defer l3.Close()
	if got, want := l3.Addr().String(), "127.0.0.11:10002"; got != want {
		t.Errorf("Listen(0.0.0.0:0).Addr() = %s, want %s", got, want)
	}
	if got := l1.Addr().Network(); got != "memnet" {
		t.Errorf("Addr().Network() = %q, want memnet", got)
	}
}

func TestHostPanicsOnNonIPv4(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Errorf("Host(localhost) did not panic, want panic")
		}
	}()
	memnet.New(1).Host("localhost")
}

func TestListenErrors(t *testing.T) {
	n := memnet.New(1)
	h := n.Host("127.0.0.11")
	taken := listen(t, h).Addr().String()
	tests := []struct {
		name string
		addr string
		want error
	}{
		{"other host's ip", "127.0.0.12:0", memnet.ErrAddrNotAvail},
		{"port in use", taken, memnet.ErrAddrInUse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := h.Listen(tt.addr)
			if !errors.Is(err, tt.want) {
				if l != nil {
					_ = l.Close()
				}
				t.Fatalf("Listen(%q) error = %v, want %v", tt.addr, err, tt.want)
			}
		})
	}
	if _, err := h.Listen("localhost:1"); err == nil {
		t.Errorf("Listen(localhost:1) error = nil, want an error")
	}
}

func TestDialErrors(t *testing.T) {
	n := memnet.New(1)
	a, b, c := n.Host("127.0.0.11"), n.Host("127.0.0.12"), n.Host("127.0.0.13")
	lb, lc := listen(t, b), listen(t, c)
	n.Isolate(c.IP())
	tests := []struct {
		name string
		addr string
		want error
	}{
		{"nothing listening", "127.0.0.12:9", memnet.ErrRefused},
		{"partitioned", lc.Addr().String(), memnet.ErrUnreachable},
		{"unknown host", "127.0.0.99:1", memnet.ErrUnreachable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := a.Dial(context.Background(), tt.addr)
			if !errors.Is(err, tt.want) {
				if conn != nil {
					_ = conn.Close()
				}
				t.Fatalf("Dial(%q) error = %v, want %v", tt.addr, err, tt.want)
			}
			var op *net.OpError
			if !errors.As(err, &op) || op.Op != "dial" {
				t.Errorf("Dial(%q) error = %#v, want a *net.OpError with Op dial", tt.addr, err)
			}
		})
	}
	n.Crash(a.IP())
	if _, err := a.Dial(context.Background(), lb.Addr().String()); !errors.Is(err, memnet.ErrHostDown) {
		t.Errorf("Dial from crashed host error = %v, want %v", err, memnet.ErrHostDown)
	}
}

func TestDialDropRate(t *testing.T) {
	n := memnet.New(1)
	a, b := n.Host("127.0.0.11"), n.Host("127.0.0.12")
	l := listen(t, b)
	n.SetDropRate(1)
	_, err := a.Dial(context.Background(), l.Addr().String())
	var ne net.Error
	if !errors.Is(err, memnet.ErrTimedOut) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("Dial with drop rate 1 error = %v, want a timeout wrapping %v", err, memnet.ErrTimedOut)
	}
	n.SetDropRate(0)
	conn, err := a.Dial(context.Background(), l.Addr().String())
	if err != nil {
		t.Fatalf("Dial with drop rate 0 error = %v, want nil", err)
	}
	_ = conn.Close()
	if got := n.Stats(); got.Dials != 2 || got.DialsFailed != 1 {
		t.Errorf("Stats() dials = %d, failed = %d, want 2, 1", got.Dials, got.DialsFailed)
	}
}

func TestDialHonoursContext(t *testing.T) {
	n := memnet.New(1)
	a, b := n.Host("127.0.0.11"), n.Host("127.0.0.12")
	l := listen(t, b)
	n.SetDelay(time.Second, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := a.Dial(ctx, l.Addr().String())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dial with 20ms context and 1s delay error = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("Dial returned after %v, want about 20ms", d)
	}
}
