package lb

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

// echo is a backend answering its name and the X-Forwarded-For it got.
func echo(t *testing.T, name string) Backend {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, name+" "+r.Header.Get("X-Forwarded-For"))
	}))
	t.Cleanup(srv.Close)
	return Backend{Name: name, Addr: strings.TrimPrefix(srv.URL, "http://")}
}

// dead is an address nobody listens on: connections are refused.
func dead(t *testing.T, name string) Backend {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return Backend{Name: name, Addr: addr}
}

func get(t *testing.T, url string, hdr http.Header) string {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %q, want 200", url, resp.StatusCode, b)
	}
	return string(b)
}

func TestNewNeedsBackends(t *testing.T) {
	if _, err := New(nil, Config{}); err == nil {
		t.Errorf("New(no backends) = nil error, want one")
	}
}

// TestDownForTriesRefusingBackendLast: with DownFor, a backend that
// refused is tried after the others until DownFor passes; without it, it
// keeps its turn.
func TestDownForTriesRefusingBackendLast(t *testing.T) {
	backends := []Backend{echo(t, "n1"), dead(t, "n2"), echo(t, "n3")}
	for _, tc := range []struct {
		name     string
		downFor  time.Duration
		wantLast bool
	}{
		{"DownFor set", time.Hour, true},
		{"DownFor zero", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := New(backends, Config{DownFor: tc.downFor})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			srv := httptest.NewServer(b)
			defer srv.Close()
			for range 3 { // one start point falls on n2, which refuses
				if got := get(t, srv.URL, nil); strings.HasPrefix(got, "n2") {
					t.Fatalf("served by %q, the dead backend", got)
				}
			}
			for range 3 {
				start := int(b.next.Load() % 3)
				want := []int{start, (start + 1) % 3, (start + 2) % 3}
				if tc.wantLast {
					want = append(slices.DeleteFunc(want, func(i int) bool { return i == 1 }), 1)
				}
				if got := b.order(httptest.NewRequest("GET", "/", nil)); !slices.Equal(got, want) {
					t.Errorf("order = %v after n2 refused, want %v", got, want)
				}
			}
		})
	}
}

// TestForwardedHeaders: X-Forwarded-For reaches the backends only when
// Forwarded is set; a client's own is never passed on.
func TestForwardedHeaders(t *testing.T) {
	for _, forwarded := range []bool{false, true} {
		b, err := New([]Backend{echo(t, "n1")}, Config{Forwarded: forwarded})
		if err != nil {
			t.Fatal(err)
		}
		addr, stop, err := b.ServeLoopback()
		if err != nil {
			t.Fatal(err)
		}
		got := get(t, "http://"+addr, http.Header{"X-Forwarded-For": {"203.0.113.9"}})
		stop()
		if want := map[bool]string{false: "n1 ", true: "n1 127.0.0.1"}[forwarded]; got != want {
			t.Errorf("Forwarded %v: backend got %q, want %q", forwarded, got, want)
		}
	}
}
