package rpc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/internal/testkit"
)

func TestRoundTrip(t *testing.T) {
	sizes := []int{0, 1, 64, 1 << 10, 16 << 10, bodyChunk + 1, 1 << 20}
	for _, tr := range transports() {
		t.Run(tr.name, func(t *testing.T) {
			testkit.CheckGoroutines(t, testTimeout)
			_, addr := startServer(t, tr.net, "", Config{}, &testHandler{})
			c := newClient(t, tr.net, Config{})
			for _, n := range sizes {
				body := bytes.Repeat([]byte{byte(n)}, n)
				mustEcho(t, c, addr, body)
			}
			if got := c.Stats(); got.Calls != uint64(len(sizes)) || got.Errors != 0 {
				t.Errorf("Stats() calls=%d errors=%d, want %d and 0", got.Calls, got.Errors, len(sizes))
			}
		})
	}
}

func TestConcurrentCallsShareConnections(t *testing.T) {
	for _, tr := range transports() {
		t.Run(tr.name, func(t *testing.T) {
			testkit.CheckGoroutines(t, testTimeout)
			srv, addr := startServer(t, tr.net, "", Config{}, &testHandler{})
			c := newClient(t, tr.net, Config{ConnsPerPeer: 2})
			const workers, perWorker = 32, 50
			echoConcurrently(t, c, addr, workers, perWorker, func(w, i int) []byte {
				return fmt.Appendf(nil, "worker %d call %d", w, i)
			})
			// Small frames never make a connection bulky: every call
			// shares the first one, and its system calls.
			if got := c.Stats().ConnsTotal; got != 1 {
				t.Errorf("client ConnsTotal = %d, want 1", got)
			}
			if got := srv.Stats(); got.Calls != workers*perWorker || got.ConnsOpen != 1 {
				t.Errorf("server calls=%d conns=%d, want %d and 1", got.Calls, got.ConnsOpen, workers*perWorker)
			}
		})
	}
}

func TestRemoteErrors(t *testing.T) {
	testkit.CheckGoroutines(t, testTimeout)
	long := strings.Repeat("x", 2*maxErrorMsg)
	h := HandlerFunc(func(ctx context.Context, method uint8, body []byte) ([]byte, error) {
		switch string(body) {
		case "remote":
			return nil, &RemoteError{Code: 150, Msg: "no such session"}
		case "wrapped":
			return nil, fmt.Errorf("store: get: %w", &RemoteError{Code: 151, Msg: "locked"})
		case "plain":
			return nil, errors.New("disk on fire")
		case "long":
			return nil, errors.New(long)
		case "panic":
			panic("handler bug")
		}
		return []byte("ok"), nil
	})
	_, addr := startServer(t, tcpNet{}, "", Config{}, h)
	c := newClient(t, tcpNet{}, Config{})
	for _, tc := range []struct {
		body     string
		wantCode uint16
		wantMsg  string
	}{
		{"remote", 150, "no such session"},
		{"wrapped", 151, "locked"},
		{"plain", CodeInternal, "disk on fire"},
		{"long", CodeInternal, long[:maxErrorMsg]},
		{"panic", CodeInternal, "rpc: handler panicked"},
	} {
		_, err := c.Call(context.Background(), addr, 1, []byte(tc.body))
		re, ok := errors.AsType[*RemoteError](err)
		if !ok {
			t.Errorf("Call(%s) error = %v, want a *RemoteError", tc.body, err)
			continue
		}
		if re.Code != tc.wantCode || re.Msg != tc.wantMsg {
			t.Errorf("Call(%s) = code %d msg %.40q, want code %d msg %.40q",
				tc.body, re.Code, re.Msg, tc.wantCode, tc.wantMsg)
		}
	}
	// Errors are replies, not broken connections.
	if got := c.Stats().ConnsTotal; got > 2 {
		t.Errorf("client ConnsTotal = %d after remote errors, want <= 2", got)
	}
}

func TestDeadlineExceededKeepsConnection(t *testing.T) {
	for _, tr := range transports() {
		t.Run(tr.name, func(t *testing.T) {
			testkit.CheckGoroutines(t, testTimeout)
			_, addr := startServer(t, tr.net, "", Config{}, &testHandler{})
			c := newClient(t, tr.net, Config{ConnsPerPeer: 1, CallTimeout: 50 * time.Millisecond})
			mustEcho(t, c, addr, []byte("warm up"))

			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
			defer cancel()
			if _, err := c.Call(ctx, addr, opBlock, nil); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Call(block, ctx deadline) error = %v, want context.DeadlineExceeded", err)
			}
			// No deadline on ctx: Config.CallTimeout applies.
			if _, err := c.Call(context.Background(), addr, opBlock, nil); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Call(block, CallTimeout) error = %v, want context.DeadlineExceeded", err)
			}
			mustEcho(t, c, addr, []byte("still works"))
			if got := c.Stats().ConnsTotal; got != 1 {
				t.Errorf("client ConnsTotal = %d, want 1 (connection reused)", got)
			}
		})
	}
}

func TestCancelledCall(t *testing.T) {
	testkit.CheckGoroutines(t, testTimeout)
	_, addr := startServer(t, tcpNet{}, "", Config{}, &testHandler{})
	c := newClient(t, tcpNet{}, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		testkit.Eventually(t, testTimeout, "call in flight", func() bool { return c.Stats().BytesOut > 0 })
		cancel()
	}()
	if _, err := c.Call(ctx, addr, opBlock, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Call(cancelled) error = %v, want context.Canceled", err)
	}
	if _, err := c.Call(ctx, addr, opEcho, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Call(already cancelled ctx) error = %v, want context.Canceled", err)
	}
}

func TestLateReplyIsDropped(t *testing.T) {
	testkit.CheckGoroutines(t, testTimeout)
	started, release := make(chan struct{}), make(chan struct{})
	h := HandlerFunc(func(ctx context.Context, method uint8, body []byte) ([]byte, error) {
		if method == 1 {
			close(started)
			<-release // ignores ctx: replies after the caller gave up
			return []byte("late"), nil
		}
		return []byte("fresh"), nil
	})
	s, addr := startServer(t, tcpNet{}, "", Config{}, h)
	c := newClient(t, tcpNet{}, Config{ConnsPerPeer: 1})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-started
		cancel()
	}()
	if _, err := c.Call(ctx, addr, 1, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Call(slow, cancelled) error = %v, want context.Canceled", err)
	}
	close(release)
	testkit.Eventually(t, testTimeout, "late reply sent", func() bool { return s.Stats().BytesOut == headerLen+4 })
	// Nobody reads the idle connection: the next caller reads the late
	// reply off it, drops it, and gets its own.
	for range 3 {
		got, err := c.Call(context.Background(), addr, 2, nil)
		if err != nil || string(got) != "fresh" {
			t.Errorf("Call(fast) = %q, %v, want \"fresh\", nil", got, err)
		}
	}
	if got, want := c.Stats().BytesIn, uint64(headerLen+4+3*(headerLen+5)); got != want {
		t.Errorf("BytesIn = %d, want %d (the late reply and three fresh ones)", got, want)
	}
}

func TestDeadlineSentToHandler(t *testing.T) {
	testkit.CheckGoroutines(t, testTimeout)
	h := HandlerFunc(func(ctx context.Context, method uint8, body []byte) ([]byte, error) {
		d, ok := ctx.Deadline()
		if !ok {
			return nil, errors.New("no deadline")
		}
		return []byte(time.Until(d).String()), nil
	})
	_, addr := startServer(t, tcpNet{}, "", Config{}, h)
	c := newClient(t, tcpNet{}, Config{CallTimeout: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 800*time.Millisecond)
	defer cancel()
	for _, call := range []struct {
		name string
		do   func() ([]byte, error)
	}{
		{"Call with ctx deadline", func() ([]byte, error) { return c.Call(ctx, addr, 1, nil) }},
		{"CallDeadline", func() ([]byte, error) {
			return c.CallDeadline(context.Background(), time.Now().Add(800*time.Millisecond), addr, 1, nil)
		}},
	} {
		got, err := call.do()
		if err != nil {
			t.Fatalf("%s error = %v, want nil", call.name, err)
		}
		left, err := time.ParseDuration(string(got))
		if err != nil || left <= 0 || left > 801*time.Millisecond {
			t.Errorf("%s: handler deadline in %s, want within (0, 801ms]", call.name, got)
		}
	}
}

func TestBackPressure(t *testing.T) {
	testkit.CheckGoroutines(t, testTimeout)
	var running, peak atomic.Int32
	release := make(chan struct{})
	h := HandlerFunc(func(ctx context.Context, method uint8, body []byte) ([]byte, error) {
		n := running.Add(1)
		defer running.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		<-release
		return body, nil
	})
	srv, addr := startServer(t, tcpNet{}, "", Config{MaxInFlight: 2}, h)
	c := newClient(t, tcpNet{}, Config{ConnsPerPeer: 1})
	const calls = 8
	var wg sync.WaitGroup
	for range calls {
		wg.Go(func() { mustEcho(t, c, addr, []byte("x")) })
	}
	testkit.Eventually(t, testTimeout, "all requests sent", func() bool { return c.Stats().BytesOut == calls*(headerLen+1) })
	testkit.Eventually(t, testTimeout, "two handlers running", func() bool { return running.Load() == 2 })
	if got := srv.Stats().Calls; got > 3 {
		t.Errorf("server read %d requests with 2 handlers busy, want <= 3", got)
	}
	close(release)
	wg.Wait()
	if got := peak.Load(); got != 2 {
		t.Errorf("peak concurrent handlers = %d, want MaxInFlight = 2", got)
	}
}

func TestFrameTooLargeOutgoing(t *testing.T) {
	testkit.CheckGoroutines(t, testTimeout)
	big := HandlerFunc(func(ctx context.Context, method uint8, body []byte) ([]byte, error) {
		return make([]byte, 2<<10), nil
	})
	_, addr := startServer(t, tcpNet{}, "", Config{MaxFrame: 1 << 10}, big)
	c := newClient(t, tcpNet{}, Config{MaxFrame: 1 << 10})
	if _, err := c.Call(context.Background(), addr, 1, make([]byte, 2<<10)); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("Call(2 KiB body, MaxFrame 1 KiB) error = %v, want ErrFrameTooLarge", err)
	}
	if got := c.Stats().ConnsTotal; got != 0 {
		t.Errorf("ConnsTotal = %d after refused request, want 0 (nothing dialled)", got)
	}
	_, err := c.Call(context.Background(), addr, 1, nil)
	if re, ok := errors.AsType[*RemoteError](err); !ok || re.Code != CodeInternal {
		t.Errorf("Call(reply over MaxFrame) error = %v, want RemoteError with CodeInternal", err)
	}
}

// TestFastHandlerReplies checks the FastHandler path: replies built in the
// connection's scratch buffer stay intact across sizes that grow it, pass
// the write buffer (vectored write) and exceed maxScratch, under concurrent
// callers sharing one connection; a panicking ServeFast falls back to
// ServeRPC.
func TestFastHandlerReplies(t *testing.T) {
	sizes := []int{0, 10, 1 << 10, 20 << 10, 100, maxScratch + 1, 5, 8 << 10}
	for _, tr := range transports() {
		t.Run(tr.name, func(t *testing.T) {
			testkit.CheckGoroutines(t, testTimeout)
			h := &fastEchoHandler{}
			_, addr := startServer(t, tr.net, "", Config{}, h)
			c := newClient(t, tr.net, Config{ConnsPerPeer: 1})
			echoConcurrently(t, c, addr, 4, 50, func(w, i int) []byte {
				return bytes.Repeat([]byte{byte(w*50 + i)}, sizes[(w+i)%len(sizes)])
			})
			if n := h.count(); n != 0 {
				t.Errorf("ServeRPC ran %d times for echoes the fast path answers, want 0", n)
			}
			_, err := c.Call(context.Background(), addr, opFail, []byte("slow path"))
			if re := (*RemoteError)(nil); !errors.As(err, &re) || re.Msg != "slow path" {
				t.Errorf("Call(opFail) error = %v, want the ServeRPC error %q", err, "slow path")
			}
		})
	}
}

// retainingHandler answers every fast request with the same slice, which it
// keeps: the server must never reuse a handler's reply as its scratch buffer.
type retainingHandler struct {
	testHandler
	kept []byte
}

func (h *retainingHandler) ServeFast(method uint8, body, buf []byte) ([]byte, bool) {
	if len(body) == 0 {
		return h.kept, true
	}
	return append(buf, body...), true
}

func TestFastHandlerReplyIsNotReused(t *testing.T) {
	testkit.CheckGoroutines(t, testTimeout)
	h := &retainingHandler{kept: bytes.Repeat([]byte("k"), 4<<10)}
	want := bytes.Clone(h.kept)
	_, addr := startServer(t, tcpNet{}, "", Config{}, h)
	c := newClient(t, tcpNet{}, Config{ConnsPerPeer: 1})
	for i := range 10 {
		got, err := c.Call(context.Background(), addr, opEcho, nil)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("round %d: Call = %d bytes, %v; want the kept reply", i, len(got), err)
		}
		mustEcho(t, c, addr, bytes.Repeat([]byte{byte(i)}, 1<<10+i))
	}
	if !bytes.Equal(h.kept, want) {
		t.Fatal("the handler's retained reply was overwritten by later replies")
	}
}

// TestCallDeadline: CallDeadline ends at the earlier of its deadline and
// ctx's end, whether the caller reads its own reply or waits for another
// caller to pass it on, and sends the deadline to the handler.
func TestCallDeadline(t *testing.T) {
	testkit.CheckGoroutines(t, testTimeout)
	h := &testHandler{}
	_, addr := startServer(t, tcpNet{}, "", Config{}, h)
	// A CallTimeout longer than the test: only the deadlines under test end
	// the calls.
	c := newClient(t, tcpNet{}, Config{ConnsPerPeer: 1, CallTimeout: time.Hour})
	soon := func() time.Time { return time.Now().Add(30 * time.Millisecond) }
	later := func() time.Time { return time.Now().Add(time.Hour) }

	if _, err := c.CallDeadline(context.Background(), soon(), addr, opBlock, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("CallDeadline(block, soon) error = %v, want context.DeadlineExceeded", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := c.CallDeadline(ctx, later(), addr, opBlock, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("CallDeadline(block, ctx ends first) error = %v, want context.DeadlineExceeded", err)
	}
	cctx, ccancel := context.WithCancel(context.Background())
	go func() {
		testkit.Eventually(t, testTimeout, "blocked call reached the handler", func() bool { return h.count() == 3 })
		ccancel()
	}()
	if _, err := c.CallDeadline(cctx, later(), addr, opBlock, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("CallDeadline(block, cancelled) error = %v, want context.Canceled", err)
	}

	// A caller waiting behind the read-turn holder gives up at its deadline.
	hctx, hcancel := context.WithCancel(context.Background())
	held := make(chan error, 1)
	go func() {
		_, err := c.CallDeadline(hctx, later(), addr, opBlock, nil)
		held <- err
	}()
	testkit.Eventually(t, testTimeout, "turn holder blocked in the handler", func() bool { return h.count() == 4 })
	if _, err := c.CallDeadline(context.Background(), soon(), addr, opBlock, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("CallDeadline(block, soon) behind another caller error = %v, want context.DeadlineExceeded", err)
	}
	hcancel()
	if err := <-held; !errors.Is(err, context.Canceled) {
		t.Errorf("turn holder error = %v, want context.Canceled", err)
	}
	mustEcho(t, c, addr, []byte("still works"))
}
