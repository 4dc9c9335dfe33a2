package middleware

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/middleware/internal/memstore"
	"github.com/e5b1d45c/sessring/store"
)

// testClock is a settable clock shared by the Manager and the memstore.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock {
	return &testClock{t: time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// logBuffer collects log output for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// env is a Manager over a memstore, served on loopback.
type env struct {
	t     *testing.T
	st    *memstore.Store
	rs    *recordingStore // st, recording mutations; what the Manager uses
	m     *Manager
	srv   *httptest.Server
	log   *logBuffer
	clock *testClock // nil: real time
}

// newEnv builds a Manager from cfg (DefaultConfig when zero) serving h.
func newEnv(t *testing.T, cfg Config, h http.Handler) *env {
	t.Helper()
	e := &env{t: t, st: memstore.New(), log: &logBuffer{}}
	e.rs = &recordingStore{Store: e.st}
	cfg.Logger = slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	m, err := New(e.rs, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.m = m
	if h != nil {
		e.srv = httptest.NewServer(m.LoadAndSave(h))
		t.Cleanup(e.srv.Close)
	}
	return e
}

// useClock makes the Manager and the store share a fake clock.
func (e *env) useClock() *testClock {
	e.clock = newTestClock()
	e.m.now = e.clock.now
	e.st.SetClock(e.clock.now)
	return e.clock
}

// client returns an HTTP client with its own cookie jar.
func (e *env) client() *http.Client {
	e.t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 10 * time.Second}
}

// get performs a GET with c and returns status, body and response.
func (e *env) get(c *http.Client, path string) (int, string, *http.Response) {
	e.t.Helper()
	return e.do(c, http.MethodGet, path, nil)
}

func (e *env) do(c *http.Client, method, path string, hdr http.Header) (int, string, *http.Response) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	resp, err := c.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp.StatusCode, strings.TrimSpace(string(body)), resp
}

// serve runs h through LoadAndSave in-process (no network) for req.
func (e *env) serve(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	e.m.LoadAndSave(h).ServeHTTP(rec, req)
	return rec
}

// sessionCookie returns the session Set-Cookie of resp, or nil.
func sessionCookie(resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == "sessring" {
			return c
		}
	}
	return nil
}

// seed stores a session directly and returns its token.
func (e *env) seed(fields map[string]any) string {
	e.t.Helper()
	tok, err := e.st.NewToken(false)
	if err != nil {
		e.t.Fatal(err)
	}
	set := map[string][]byte{}
	for k, v := range fields {
		b, err := e.m.codec.Encode(v)
		if err != nil {
			e.t.Fatalf("encode %q: %v", k, err)
		}
		set[k] = b
	}
	now := e.m.now()
	_, err = e.st.Apply(context.Background(), tok, store.Mutation{Create: true, Set: set,
		Expiry: now.Add(e.m.cfg.Lifetime), Idle: e.m.cfg.IdleTimeout})
	if err != nil {
		e.t.Fatalf("seed: %v", err)
	}
	return tok
}

// stored decodes the stored value of key in token's session.
func (e *env) stored(token, key string) (any, bool) {
	e.t.Helper()
	rec, ok := e.st.Peek(token)
	if !ok {
		return nil, false
	}
	raw, ok := rec.Fields[key]
	if !ok {
		return nil, false
	}
	v, err := e.m.codec.Decode(raw)
	if err != nil {
		e.t.Fatalf("decode stored %q: %v", key, err)
	}
	return v, true
}

// withToken returns a request carrying tok in the session cookie.
func withToken(method, target, tok string) *http.Request {
	req := httptest.NewRequest(method, target, nil)
	req.AddCookie(&http.Cookie{Name: "sessring", Value: tok})
	return req
}

// getReq returns a GET / request without a token.
func getReq() *http.Request {
	return httptest.NewRequest(http.MethodGet, "/", nil)
}

// record serves req with h and returns the recorded response.
func record(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// recordingStore records every mutation applied through it.
type recordingStore struct {
	*memstore.Store
	mu   sync.Mutex
	muts []store.Mutation
}

func (r *recordingStore) Apply(ctx context.Context, tok string, m store.Mutation) (store.Record, error) {
	r.mu.Lock()
	r.muts = append(r.muts, m)
	r.mu.Unlock()
	return r.Store.Apply(ctx, tok, m)
}

// mutations returns the mutations applied so far and forgets them.
func (r *recordingStore) mutations() []store.Mutation {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.muts
	r.muts = nil
	return m
}
