package memnet_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/internal/memnet"
)

// listen opens a listener on h and closes it at cleanup.
func listen(t *testing.T, h *memnet.Host) net.Listener {
	t.Helper()
	l, err := h.Listen(":0")
	if err != nil {
		t.Fatalf("Listen(%s:0) error = %v", h.IP(), err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// pair opens a stream from host a to a listener on host b and returns the
// client and server ends, closed at cleanup.
func pair(t *testing.T, a, b *memnet.Host) (client, server net.Conn) {
	t.Helper()
	l := listen(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	client, err := a.Dial(ctx, l.Addr().String())
	if err != nil {
		t.Fatalf("Dial(%s) error = %v", l.Addr(), err)
	}
	server, err = l.Accept()
	if err != nil {
		t.Fatalf("Accept() error = %v", err)
	}
	t.Cleanup(func() { _ = client.Close(); _ = server.Close() })
	return client, server
}

// result is the outcome of a Read or Write run in a goroutine.
type result struct {
	n   int
	err error
}

// async runs op in a goroutine and returns where its result arrives.
func async(op func() (int, error)) <-chan result {
	ch := make(chan result, 1)
	go func() {
		n, err := op()
		ch <- result{n, err}
	}()
	return ch
}

// await returns the result or fails after timeout.
func await(t *testing.T, ch <-chan result, timeout time.Duration) result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(timeout):
		t.Fatalf("operation still blocked after %v", timeout)
		return result{}
	}
}
