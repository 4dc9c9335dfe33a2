package middleware

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/middleware/internal/memstore"
	"github.com/e5b1d45c/sessring/store"
)

func TestLoadFailureIsAnErrorNotAnEmptySession(t *testing.T) {
	e := newEnv(t, Config{}, nil)
	tok := e.seed(map[string]any{"cart": "3 items"})
	e.st.Fail(memstore.OpLoad, store.ErrUnavailable)
	called := false
	rec := e.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { called = true }),
		withToken("GET", "/", tok))
	if called || rec.Code != http.StatusServiceUnavailable {
		t.Errorf("handler called = %v, status %d; want not called, 503", called, rec.Code)
	}
	if sessionCookie(rec.Result()) != nil {
		t.Errorf("a cookie was sent on a failed load")
	}
	e.st.Fail(memstore.OpLoad, nil)
	if v, _ := e.stored(tok, "cart"); v != "3 items" {
		t.Errorf("cart = %v after the outage, want it intact", v)
	}
}

func TestSlowStoreTimesOut(t *testing.T) {
	cfg := DefaultConfig()
	cfg.StoreTimeout = 20 * time.Millisecond
	e := newEnv(t, cfg, nil)
	tok := e.seed(map[string]any{"a": 1})
	e.st.SetDelay(time.Second)
	start := time.Now()
	rec := e.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), withToken("GET", "/", tok))
	if rec.Code != http.StatusServiceUnavailable || time.Since(start) > 500*time.Millisecond {
		t.Errorf("status %d after %v, want 503 within StoreTimeout", rec.Code, time.Since(start))
	}
}

func TestUndecodableValueIsDroppedAlone(t *testing.T) {
	e := newEnv(t, Config{}, nil)
	good, _ := e.m.codec.Encode("still here")
	tests := map[string][]byte{
		"corrupt":          {envPlain, tagInt, 0xff},
		"unknown codec":    {envPlain, 0xee, 1, 2},
		"unknown envelope": {9, 1, 2, 3},
		"s2 bomb":          {envS2, 0xff, 0xff, 0xff, 0xff, 0x0f, 0},
		"renamed type":     renamedGobType(t, e),
	}
	fields := map[string][]byte{"good": good}
	for k, v := range tests {
		fields[k] = v
	}
	e.st.Put("tok", store.Record{Kind: store.KindFields, Fields: fields, Version: 1,
		Expiry: time.Now().Add(time.Hour)})
	for i := range 2 { // no 500 loop: the second request is as fine as the first
		rec := e.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s := e2m(r)
			for k := range tests {
				if s.Get(k) != nil || s.Exists(k) {
					t.Errorf("request %d: undecodable %q visible", i, k)
				}
			}
			if got := s.GetString("good"); got != "still here" {
				t.Errorf("request %d: good = %q, want it kept", i, got)
			}
			if keys := s.Keys(); len(keys) != 1 {
				t.Errorf("request %d: Keys = %v, want [good]", i, keys)
			}
		}), withToken("GET", "/", "tok"))
		if rec.Code != 200 {
			t.Fatalf("request %d: status %d, want 200", i, rec.Code)
		}
	}
	if got := e.m.Stats().DecodeFailures; got != 2*uint64(len(tests)) {
		t.Errorf("DecodeFailures = %d, want %d", got, 2*len(tests))
	}
	if !strings.Contains(e.log.String(), "does not decode") {
		t.Errorf("decode failure not logged")
	}
	if r, _ := e.st.Peek("tok"); len(r.Fields) != len(fields) {
		t.Errorf("stored fields = %d, want %d: reads must not erase what this node cannot decode", len(r.Fields), len(fields))
	}
}

type cartV1 struct{ Items []string }

func init() { gob.RegisterName("test.cartAAA", cartV1{}) }

// renamedGobType returns a stored value whose gob type name no binary
// registers: what a deploy that renamed or dropped a type leaves behind.
func renamedGobType(t *testing.T, e *env) []byte {
	b, err := e.m.codec.Encode(cartV1{Items: []string{"book"}})
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Replace(b, []byte("test.cartAAA"), []byte("test.cartZZZ"), 1)
}

func TestDestroy(t *testing.T) {
	var destroyed []string
	cfg := DefaultConfig()
	cfg.OnDestroy = func(tok string) { destroyed = append(destroyed, tok) }
	e := newEnv(t, cfg, nil)
	tok := e.seed(map[string]any{"user": "ann"})
	rec := e.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := e2m(r)
		if err := s.Destroy(r.Context()); err != nil {
			t.Errorf("Destroy: %v", err)
		}
		if s.Status() != Destroyed || s.Token() != "" || s.Exists("user") {
			t.Errorf("after Destroy: status %v token %q user %v", s.Status(), s.Token(), s.Get("user"))
		}
	}), withToken("POST", "/logout", tok))
	if _, ok := e.st.Peek(tok); ok {
		t.Errorf("session still stored after Destroy")
	}
	c := sessionCookie(rec.Result())
	if c == nil || c.MaxAge >= 0 || c.Value != "" {
		t.Errorf("cookie %v, want an expired one", c)
	}
	if len(destroyed) != 1 || destroyed[0] != tok {
		t.Errorf("OnDestroy got %v, want [%s]", destroyed, tok)
	}
	// Put after Destroy starts a new session.
	rec = e.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := e2m(r)
		_ = s.Destroy(r.Context())
		s.Put("guest", true)
	}), withToken("POST", "/", e.seed(map[string]any{"x": 1})))
	if c := sessionCookie(rec.Result()); c == nil || c.MaxAge <= 0 {
		t.Errorf("Destroy then Put: cookie %v, want a new persistent session", c)
	}
}

func TestRenewToken(t *testing.T) {
	var renewed [2]string
	cfg := DefaultConfig()
	cfg.Locking = LockExclusive
	cfg.OnRenew = func(o, n string) { renewed = [2]string{o, n} }
	e := newEnv(t, cfg, nil)
	old := e.seed(map[string]any{"cart": "book"})
	e.st.Put("x", store.Record{}) // unrelated
	var newTok string
	rec := e.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := e2m(r)
		s.Put("pending", 1)
		if err := s.RenewToken(r.Context()); err != nil {
			t.Errorf("RenewToken: %v", err)
		}
		s.Put("user", "ann") // after renewal: written under the new token, without the old lease
		newTok = s.Token()
	}), withToken("POST", "/login", old))
	if rec.Code != 200 || newTok == old || newTok == "" {
		t.Fatalf("status %d, new token %q (old %q)", rec.Code, newTok, old)
	}
	if _, ok := e.st.Peek(old); ok {
		t.Errorf("old token still stored")
	}
	for k, want := range map[string]any{"cart": "book", "pending": 1, "user": "ann"} {
		if v, _ := e.stored(newTok, k); v != want {
			t.Errorf("new session %s = %v, want %v", k, v, want)
		}
	}
	if c := sessionCookie(rec.Result()); c == nil || c.Value != newTok {
		t.Errorf("cookie %v, want the new token", c)
	}
	if renewed != [2]string{old, newTok} {
		t.Errorf("OnRenew got %v", renewed)
	}
}

func TestIdleExpiryAndOnExpire(t *testing.T) {
	var mu sync.Mutex
	var expired []string
	cfg := DefaultConfig()
	cfg.IdleTimeout = 10 * time.Minute
	cfg.OnExpire = func(tok string) { mu.Lock(); expired = append(expired, tok); mu.Unlock() }
	e := newEnv(t, cfg, nil)
	clock := e.useClock()
	tok := e.seed(map[string]any{"a": 1})
	clock.advance(11 * time.Minute)
	rec := e.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if e2m(r).Exists("a") {
			t.Errorf("idle-expired session still readable")
		}
	}), withToken("GET", "/", tok))
	if c := sessionCookie(rec.Result()); c == nil || c.MaxAge >= 0 {
		t.Errorf("cookie %v, want the dead token's cookie expired", c)
	}
	e.st.Sweep()
	e.st.Sweep()
	mu.Lock()
	defer mu.Unlock()
	if len(expired) != 1 || expired[0] != tok {
		t.Errorf("OnExpire calls %v, want exactly [%s]", expired, tok)
	}
}

func TestTouchNeverResurrects(t *testing.T) {
	cfg := DefaultConfig()
	cfg.IdleTimeout = 10 * time.Minute
	e := newEnv(t, cfg, nil)
	clock := e.useClock()
	tok := e.seed(map[string]any{"a": 1})
	clock.advance(9 * time.Minute)
	rec := e.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = e2m(r).Get("a")
		clock.advance(2 * time.Minute) // expires while the handler runs
	}), withToken("GET", "/", tok))
	if r, ok := e.st.Peek(tok); ok && r.Deadline().After(clock.now()) {
		t.Errorf("touch revived an expired session until %v", r.Deadline())
	}
	if c := sessionCookie(rec.Result()); c == nil || c.MaxAge >= 0 {
		t.Errorf("cookie %v, want it expired", c)
	}
}

// noExpiry is a Store without OnExpire.
type noExpiry struct{ Store }

func TestOnExpireRequiresNotifier(t *testing.T) {
	cfg := DefaultConfig()
	cfg.OnExpire = func(string) {}
	_, err := New(noExpiry{memstore.New()}, cfg)
	if !errors.Is(err, ErrBadConfig) {
		t.Errorf("New = %v, want ErrBadConfig", err)
	}
}

func TestDestroyFailureIsReported(t *testing.T) {
	e := newEnv(t, Config{}, nil)
	tok := e.seed(map[string]any{"a": 1})
	e.st.Fail(memstore.OpDelete, store.ErrUnavailable)
	e.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := e2m(r)
		if err := s.Destroy(context.Background()); !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("Destroy = %v, want store.ErrUnavailable", err)
		}
		if s.Status() == Destroyed {
			t.Errorf("status Destroyed although the delete failed")
		}
	}), withToken("POST", "/", tok))
}
