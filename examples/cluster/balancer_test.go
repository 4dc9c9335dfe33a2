package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/examples/internal/lb"
)

// With childEnv set, this test binary is a cluster node (see supervisor).
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// testBackend is a real loopback server that says who it is and counts
// the requests it got.
type testBackend struct {
	name string
	srv  *httptest.Server

	// mu guards bodies.
	mu     sync.Mutex
	bodies []string
}

func newTestBackend(t *testing.T, name string) *testBackend {
	tb := &testBackend{name: name}
	tb.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		tb.mu.Lock()
		tb.bodies = append(tb.bodies, string(body))
		tb.mu.Unlock()
		if r.URL.Path == "/die" { // a node dying mid-request
			conn, _, _ := http.NewResponseController(w).Hijack()
			conn.Close()
			return
		}
		fmt.Fprint(w, name)
	}))
	t.Cleanup(tb.srv.Close)
	return tb
}

func (tb *testBackend) backend() lb.Backend {
	return lb.Backend{Name: tb.name, Addr: strings.TrimPrefix(tb.srv.URL, "http://")}
}

func (tb *testBackend) got() []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return append([]string(nil), tb.bodies...)
}

// deadBackend is an address nobody listens on: connections are refused.
func deadBackend(t *testing.T, name string) lb.Backend {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := l.Addr().String()
	l.Close()
	return lb.Backend{Name: name, Addr: host}
}

// lbResult is one response from the balancer.
type lbResult struct {
	code int
	body string
	pin  string // the sticky cookie set, if any
}

func newLB(t *testing.T, sticky bool, backends ...lb.Backend) string {
	b, err := newBalancer(backends, sticky, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "all down", http.StatusBadGateway)
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(b)
	t.Cleanup(srv.Close)
	t.Cleanup(b.Close)
	return srv.URL
}

func lbDo(t *testing.T, method, url, body, pin string) lbResult {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if pin != "" {
		req.AddCookie(&http.Cookie{Name: lb.DefaultCookie, Value: pin})
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := lbResult{code: resp.StatusCode, body: string(b)}
	for _, c := range resp.Cookies() {
		if c.Name == lb.DefaultCookie {
			r.pin = c.Value
		}
	}
	return r
}

func TestBalancerRoundRobinSkipsDeadNodes(t *testing.T) {
	n1, n3 := newTestBackend(t, "n1"), newTestBackend(t, "n3")
	front := newLB(t, false, n1.backend(), deadBackend(t, "n2"), n3.backend())
	counts := map[string]int{}
	for i := range 6 {
		r := lbDo(t, "POST", front+"/incr", fmt.Sprintf("form-%d", i), "")
		if r.code != http.StatusOK {
			t.Fatalf("request %d: %d %q, want 200", i, r.code, r.body)
		}
		counts[r.body]++
	}
	// Round-robin start points n1, n2, n3: n2's turns fall through to n3.
	if counts["n1"] != 2 || counts["n3"] != 4 {
		t.Errorf("served %v, want n1 2 and n3 4", counts)
	}
	// Every body arrived whole and exactly once, including those retried
	// after n2 refused.
	all := append(n1.got(), n3.got()...)
	if len(all) != 6 {
		t.Errorf("backends got %d bodies %q, want 6", len(all), all)
	}
	for i := range 6 {
		if !slices.Contains(all, fmt.Sprintf("form-%d", i)) {
			t.Errorf("form-%d never arrived (got %q)", i, all)
		}
	}
}

func TestBalancerDoesNotReplayAfterConnecting(t *testing.T) {
	n1, n2 := newTestBackend(t, "n1"), newTestBackend(t, "n2")
	front := newLB(t, false, n1.backend(), n2.backend())
	r := lbDo(t, "POST", front+"/die", "once", "")
	if r.code != http.StatusBadGateway {
		t.Errorf("node died mid-request: %d %q, want 502", r.code, r.body)
	}
	if got := len(n1.got()) + len(n2.got()); got != 1 {
		t.Errorf("the request reached %d nodes, want exactly 1", got)
	}
}

func TestBalancerAllDown(t *testing.T) {
	front := newLB(t, false, deadBackend(t, "n1"), deadBackend(t, "n2"))
	if r := lbDo(t, "GET", front+"/", "", ""); r.code != http.StatusBadGateway || !strings.Contains(r.body, "all down") {
		t.Errorf("all nodes down: %d %q, want the all-down page", r.code, r.body)
	}
}

func TestBalancerSticky(t *testing.T) {
	n1, n2 := newTestBackend(t, "n1"), newTestBackend(t, "n2")
	dead := deadBackend(t, "n3")
	front := newLB(t, true, n1.backend(), n2.backend(), dead)

	first := lbDo(t, "GET", front+"/", "", "")
	if first.pin != first.body {
		t.Fatalf("first response from %s pinned %q, want a pin to it", first.body, first.pin)
	}
	for range 5 {
		if r := lbDo(t, "GET", front+"/", "", first.pin); r.body != first.pin || r.pin != "" {
			t.Errorf("pinned to %s: served by %s, set pin %q; want %s and no new cookie", first.pin, r.body, r.pin, first.pin)
		}
	}
	// Pinned to a dead node: served elsewhere and re-pinned there.
	r := lbDo(t, "GET", front+"/", "", "n3")
	if r.code != http.StatusOK || r.body == "n3" || r.pin != r.body {
		t.Errorf("pinned to dead n3: %d from %q, pin %q; want another node and a pin to it", r.code, r.body, r.pin)
	}
	// Not sticky: no cookie ever.
	plain := newLB(t, false, n1.backend())
	if r := lbDo(t, "GET", plain+"/", "", ""); r.pin != "" {
		t.Errorf("non-sticky balancer set %s=%s", lb.DefaultCookie, r.pin)
	}
}

func TestBackRedirectEscapesMessage(t *testing.T) {
	rec := httptest.NewRecorder()
	back(rec, httptest.NewRequest("POST", "/cluster/crash", nil), "n1 & <b>")
	loc, err := url.Parse(rec.Header().Get("Location"))
	if err != nil || rec.Code != http.StatusSeeOther || loc.Query().Get("msg") != "n1 & <b>" {
		t.Errorf("back: %d Location %q, want 303 to / with the message", rec.Code, rec.Header().Get("Location"))
	}
}
