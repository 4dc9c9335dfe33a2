package middleware

import (
	"context"
	"encoding/gob"
	"errors"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/middleware/internal/memstore"
	"github.com/e5b1d45c/sessring/store"
)

func init() {
	gob.Register(map[string]int{}) // DefaultCodec's gob fallback needs it, as with scs
}

func TestOnlyChangedKeysTravel(t *testing.T) {
	e := newEnv(t, Config{}, nil)
	tok := e.seed(map[string]any{"a": "A", "b": "B", "c": 3, "gone": true})
	tests := []struct {
		name    string
		handler func(s *Session)
		wantSet []string
		wantDel []string
		writes  int
	}{
		{"read only", func(s *Session) { _ = s.GetString("a") + s.GetString("b") }, nil, nil, 0},
		{"same value put", func(s *Session) { s.Put("a", "A"); s.Put("c", 3) }, nil, nil, 0},
		{"one key", func(s *Session) { s.Put("b", "B2") }, []string{"b"}, nil, 1},
		{"put and remove", func(s *Session) { s.Put("new", 1); s.Remove("gone") }, []string{"new"}, []string{"gone"}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.rs.mutations()
			e.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				tc.handler(e.m.Session(r))
			}), withToken("GET", "/", tok))
			muts := e.rs.mutations()
			if len(muts) != tc.writes {
				t.Fatalf("store writes = %d, want %d (%+v)", len(muts), tc.writes, muts)
			}
			if tc.writes == 0 {
				return
			}
			m := muts[0]
			var set []string
			for k := range m.Set {
				set = append(set, k)
			}
			slices.Sort(set)
			if !reflect.DeepEqual(set, tc.wantSet) || !reflect.DeepEqual(m.Delete, tc.wantDel) || m.Clear {
				t.Errorf("mutation Set=%v Delete=%v Clear=%v, want Set=%v Delete=%v", set, m.Delete, m.Clear, tc.wantSet, tc.wantDel)
			}
			if m.Create || m.Expiry.IsZero() {
				t.Errorf("delta Create=%v Expiry=%v: want no Create and the stored expiry repeated", m.Create, m.Expiry)
			}
		})
	}
	if got := e.m.Stats().SkippedUnchanged; got != 2 {
		t.Errorf("Stats.SkippedUnchanged = %d, want 2", got)
	}
}

func TestInPlaceChangeIsSaved(t *testing.T) {
	e := newEnv(t, Config{}, nil)
	tok := e.seed(map[string]any{"tags": []string{"a"}, "name": "n"})
	e.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := e.m.Session(r)
		tags := s.Get("tags").([]string)
		tags[0] = "changed in place"
		_ = s.GetString("name")
	}), withToken("GET", "/", tok))
	if v, _ := e.stored(tok, "tags"); !reflect.DeepEqual(v, []string{"changed in place"}) {
		t.Errorf("stored tags = %#v, want the in-place change", v)
	}
	if got := e.m.Stats().InPlaceChanges; got != 1 {
		t.Errorf("Stats.InPlaceChanges = %d, want 1", got)
	}
	// Reading a map (non-deterministic gob order) must not look like a change.
	tok2 := e.seed(map[string]any{"m": map[string]int{"a": 1, "b": 2, "c": 3, "d": 4}})
	e.rs.mutations()
	for range 5 {
		e.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_ = e.m.Session(r).Get("m")
		}), withToken("GET", "/", tok2))
	}
	if muts := e.rs.mutations(); len(muts) != 0 {
		t.Errorf("reading a map caused %d writes, want 0", len(muts))
	}
}

func TestNewSessionUsesCreate(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Sticky = true
	cfg.IdleTimeout = 20 * time.Minute
	cfg.Lifetime = time.Hour
	var created []string
	cfg.OnCreate = func(tok string) { created = append(created, tok) }
	e := newEnv(t, cfg, nil)
	clock := e.useClock()
	rec := e.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.m.Session(r).Put("k", "v")
	}), getReq())
	muts := e.rs.mutations()
	if len(muts) != 1 {
		t.Fatalf("writes = %d, want 1", len(muts))
	}
	m := muts[0]
	if !m.Create || !m.Expiry.Equal(clock.now().Add(time.Hour)) || m.Idle != 20*time.Minute {
		t.Errorf("first write Create=%v Expiry=%v Idle=%v, want Create, now+1h, 20m", m.Create, m.Expiry, m.Idle)
	}
	if e.st.LocalTokens() != 1 {
		t.Errorf("local tokens minted = %d, want 1 (Sticky)", e.st.LocalTokens())
	}
	c := sessionCookie(rec.Result())
	if c == nil || len(created) != 1 || c.Value != created[0] {
		t.Fatalf("cookie %v, OnCreate %v: want one matching token", c, created)
	}
	// A request that only reads an empty new session stores nothing.
	e.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _ = e.m.Session(r).Get("x") }), getReq())
	if e.st.Len() != 1 {
		t.Errorf("stored sessions = %d, want 1", e.st.Len())
	}
}

func TestSessionTooLarge(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxSessionBytes = 4096
	cfg.CompressAbove = -1
	var gotErr error
	cfg.ErrorFunc = func(w http.ResponseWriter, r *http.Request, err error) {
		gotErr = err
		http.Error(w, "too large", StatusFor(err))
	}
	e := newEnv(t, cfg, nil)
	tok := e.seed(map[string]any{"a": strings.Repeat("x", 3000)})
	tests := []struct {
		name string
		put  func(*Session)
	}{
		{"one huge value", func(s *Session) { s.Put("big", strings.Repeat("y", 5000)) }},
		{"sum over limit", func(s *Session) { s.Put("b", strings.Repeat("y", 1500)) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			gotErr = nil
			rec := e.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				tc.put(e.m.Session(r))
				io.WriteString(w, "handler output")
			}), withToken("POST", "/", tok))
			if !errors.Is(gotErr, ErrSessionTooLarge) || rec.Code != 500 {
				t.Errorf("ErrorFunc got %v, status %d; want ErrSessionTooLarge, 500", gotErr, rec.Code)
			}
			if strings.Contains(rec.Body.String(), "handler output") {
				t.Errorf("handler output leaked after a failed save: %q", rec.Body.String())
			}
			r, _ := e.st.Peek(tok)
			if len(r.Fields) != 1 {
				t.Errorf("stored fields = %d, want the 1 original (nothing partial)", len(r.Fields))
			}
		})
	}
}

func TestStoreTooLargeMapsToErrSessionTooLarge(t *testing.T) {
	var gotErr error
	cfg := DefaultConfig()
	cfg.ErrorFunc = func(w http.ResponseWriter, r *http.Request, err error) { gotErr = err; w.WriteHeader(500) }
	e := newEnv(t, cfg, nil)
	e.st.SetMaxBytes(100)
	e.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.m.Session(r).Put("k", strings.Repeat("z", 200))
	}), getReq())
	if !errors.Is(gotErr, ErrSessionTooLarge) || !errors.Is(gotErr, store.ErrTooLarge) {
		t.Errorf("error = %v, want ErrSessionTooLarge wrapping store.ErrTooLarge", gotErr)
	}
}

func TestSaveFailureReplacesResponse(t *testing.T) {
	e := newEnv(t, Config{}, nil)
	tok := e.seed(map[string]any{"a": 1})
	e.st.Fail(memstore.OpApply, store.ErrUnavailable)
	var writeErr error
	rec := e.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.m.Session(r).Put("a", 2)
		_, writeErr = io.WriteString(w, "order placed")
	}), withToken("POST", "/", tok))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Errorf("status %d Retry-After %q, want 503 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
	if strings.Contains(rec.Body.String(), "order placed") || writeErr == nil {
		t.Errorf("body %q, Write error %v: want handler output dropped with an error", rec.Body.String(), writeErr)
	}
	if !strings.Contains(e.log.String(), "session middleware failed") {
		t.Errorf("failure not logged")
	}
}

func TestLateChanges(t *testing.T) {
	e := newEnv(t, Config{}, nil)
	tok := e.seed(map[string]any{"a": 1})
	e.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "body first")
		e.m.Session(r).Put("a", 2)
	}), withToken("GET", "/", tok))
	if v, _ := e.stored(tok, "a"); v != 2 {
		t.Errorf("late change to an existing session: stored a = %v, want 2", v)
	}
	if got := e.m.Stats().LateWrites; got != 0 {
		t.Errorf("LateWrites = %d, want 0", got)
	}
	e.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "body first")
		e.m.Session(r).Put("a", 1)
		if err := e.m.Session(r).RenewToken(r.Context()); !errors.Is(err, ErrHeadersWritten) {
			t.Errorf("late RenewToken = %v, want ErrHeadersWritten", err)
		}
	}), getReq())
	if got := e.m.Stats().LateWrites; got != 1 || e.st.Len() != 1 {
		t.Errorf("late put into a new session: LateWrites = %d, sessions = %d; want 1, 1", got, e.st.Len())
	}
}

func TestClientHangupDoesNotLoseWrite(t *testing.T) {
	e := newEnv(t, Config{}, nil)
	tok := e.seed(map[string]any{"a": 1})
	ctx, cancel := context.WithCancel(context.Background())
	req := withToken("POST", "/", tok).WithContext(ctx)
	e.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.m.Session(r).Put("a", 2)
		cancel() // the client hangs up before the handler returns
	}), req)
	if v, _ := e.stored(tok, "a"); v != 2 {
		t.Errorf("stored a = %v, want 2", v)
	}
}
