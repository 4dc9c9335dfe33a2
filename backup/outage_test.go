package backup

import (
	"bytes"
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/internal/memcachedtest"
	"github.com/e5b1d45c/sessring/internal/testkit"
)

func TestStopFailsFastThenRecovers(t *testing.T) {
	srv := memcachedtest.Start(t)
	ctx := context.Background()
	const timeout = 300 * time.Millisecond
	m := newBackup(t, Config{Servers: []string{srv.Addr}, Timeout: timeout, DownFor: 100 * time.Millisecond})
	if err := m.Put(ctx, "tok", []byte("v"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	ops := map[string]func() error{
		"Put":    func() error { return m.Put(ctx, "tok", []byte("v"), time.Time{}) },
		"Get":    func() error { _, _, err := m.Get(ctx, "tok"); return err },
		"Delete": func() error { return m.Delete(ctx, "tok") },
	}
	for name, op := range ops {
		start := time.Now()
		err := op()
		if d := time.Since(start); !errors.Is(err, ErrUnavailable) || d > timeout {
			t.Fatalf("%s with memcached stopped = %v after %v, want ErrUnavailable within %v", name, err, d, timeout)
		}
	}
	if s := m.Stats(); s.Servers[0].Up || s.Servers[0].Failures == 0 {
		t.Fatalf("Stats().Servers[0] = %+v, want down with failures counted", s.Servers[0])
	}
	srv.Restart()
	testkit.Eventually(t, 5*time.Second, "Put to succeed after Restart", func() bool {
		return m.Put(ctx, "tok", []byte("back"), time.Time{}) == nil
	})
	if got, found, err := m.Get(ctx, "tok"); err != nil || !found || string(got) != "back" {
		t.Fatalf("Get after recovery = (%q, %v, %v), want \"back\"", got, found, err)
	}
	if s := m.Stats(); !s.Servers[0].Up {
		t.Fatalf("Stats().Servers[0].Up = false after recovery, want true")
	}
}

// blackhole accepts connections and never answers, like a hung server.
func blackhole(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex // guards conns
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

func TestHungServerBoundedByTimeout(t *testing.T) {
	const timeout = 200 * time.Millisecond
	m := newBackup(t, Config{Servers: []string{blackhole(t)}, Timeout: timeout})
	start := time.Now()
	err := m.Put(context.Background(), "tok", []byte("v"), time.Time{})
	if d := time.Since(start); !errors.Is(err, ErrUnavailable) || d > 2*timeout+100*time.Millisecond {
		t.Fatalf("Put to a hung server = %v after %v, want ErrUnavailable within about %v", err, d, timeout)
	}
	// Now marked down: the next call fails without waiting.
	start = time.Now()
	if _, _, err := m.Get(context.Background(), "tok"); !errors.Is(err, ErrUnavailable) || time.Since(start) > 50*time.Millisecond {
		t.Fatalf("Get with the server marked down = %v after %v, want ErrUnavailable at once", err, time.Since(start))
	}
}

func TestGetHonoursContextDeadline(t *testing.T) {
	m := newBackup(t, Config{Servers: []string{blackhole(t)}, Timeout: 500 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err := m.Get(ctx, "tok")
	if d := time.Since(start); !errors.Is(err, context.DeadlineExceeded) || d > 250*time.Millisecond {
		t.Fatalf("Get with a 50ms deadline on a hung server = %v after %v, want DeadlineExceeded promptly", err, d)
	}
	// Close waits for the abandoned attempt, which ends within Timeout.
	start = time.Now()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Close took %v, want at most about Timeout", d)
	}
}

func TestCancelledContext(t *testing.T) {
	srv := memcachedtest.Start(t)
	m := newBackup(t, Config{Servers: []string{srv.Addr}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := m.Put(ctx, "tok", []byte("v"), time.Time{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Put(cancelled) = %v, want context.Canceled", err)
	}
	if _, _, err := m.Get(ctx, "tok"); !errors.Is(err, context.Canceled) {
		t.Errorf("Get(cancelled) = %v, want context.Canceled", err)
	}
	if err := m.Delete(ctx, "tok"); !errors.Is(err, context.Canceled) {
		t.Errorf("Delete(cancelled) = %v, want context.Canceled", err)
	}
	if keys := rawKeys(t, srv.Addr); len(keys) != 0 {
		t.Errorf("memcached holds %q after a cancelled Put, want nothing", keys)
	}
}

func TestClose(t *testing.T) {
	srv := memcachedtest.Start(t)
	m, err := New(Config{Servers: []string{srv.Addr}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := m.Put(ctx, "tok", []byte("v"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close() = %v, want nil", err)
	}
	if err := m.Put(ctx, "tok", nil, time.Time{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Put after Close = %v, want ErrClosed", err)
	}
	if _, _, err := m.Get(ctx, "tok"); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Close = %v, want ErrClosed", err)
	}
	if err := m.Delete(ctx, "tok"); !errors.Is(err, ErrClosed) {
		t.Errorf("Delete after Close = %v, want ErrClosed", err)
	}
}

func TestConcurrentUse(t *testing.T) {
	srv := memcachedtest.Start(t)
	m := newBackup(t, Config{Servers: []string{srv.Addr}, SecretKey: testSecret, CompressAbove: 64})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			token := "tok-" + string(rune('a'+g))
			for i := range 50 {
				v := bytes.Repeat([]byte{byte(i)}, 100+i)
				if err := m.Put(ctx, token, v, time.Now().Add(time.Minute)); err != nil {
					errs <- err
					return
				}
				got, found, err := m.Get(ctx, token)
				if err != nil || !found || !bytes.Equal(got, v) {
					errs <- errors.New("Get did not return the value just put")
					return
				}
			}
			errs <- m.Delete(ctx, token)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}
