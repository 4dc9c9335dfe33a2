package middleware

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// A session destroyed or expired while a request of it runs must stay gone:
// the request's write fails at the store (IfExists) and the request ends as
// if it had arrived a moment later, with no 500.
func TestWriteNeverResurrects(t *testing.T) {
	tests := []struct {
		name string
		cfg  func(*Config)
		// kill ends the session while the handler runs.
		kill func(e *env, clock *testClock, tok string)
		// change is what the handler does to the session afterwards.
		change func(s *Session)
	}{
		{"delta after Destroy elsewhere", nil, destroyElsewhere, putCart},
		{"delta after idle expiry", idle, expireIdle, putCart},
		{"in-place change after Destroy elsewhere", nil, destroyElsewhere, func(s *Session) {
			s.Get("prefs").(map[string]int)["theme"] = 2
		}},
		{"RememberMe after Destroy elsewhere", nil, destroyElsewhere, func(s *Session) { s.RememberMe(true) }},
		{"touch after Destroy elsewhere", idle, func(e *env, c *testClock, tok string) {
			c.advance(2 * time.Minute) // past TouchInterval, within IdleTimeout
			destroyElsewhere(e, c, tok)
		}, func(*Session) {}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			e := newEnv(t, cfg, nil)
			clock := e.useClock()
			tok := e.seed(map[string]any{"user": "ann", "prefs": map[string]int{"theme": 1}})
			rec := e.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				s := e2m(r)
				_ = s.Get("prefs")
				tc.kill(e, clock, tok)
				tc.change(s)
			}), withToken("POST", "/", tok))
			if rec.Code != http.StatusOK {
				t.Errorf("status %d, want 200: a vanished session is not a failure", rec.Code)
			}
			if r, ok := e.st.Peek(tok); ok && r.Deadline().After(clock.now()) {
				t.Errorf("session resurrected: %v until %v", r.Fields, r.Deadline())
			}
			if c := sessionCookie(rec.Result()); c == nil || c.MaxAge >= 0 {
				t.Errorf("cookie %v, want the dead token's cookie expired", c)
			}
			if got := e.m.Stats(); got.Vanished != 1 || got.Errors != 0 {
				t.Errorf("Stats.Vanished = %d, Errors = %d; want 1, 0", got.Vanished, got.Errors)
			}
			for _, m := range e.rs.mutations() {
				if !m.Create && !m.IfExists {
					t.Errorf("write to an existing session without IfExists: %+v", m)
				}
			}
		})
	}
}

func idle(c *Config) { c.IdleTimeout = 10 * time.Minute; c.TouchInterval = time.Minute }

func destroyElsewhere(e *env, _ *testClock, tok string) {
	if err := e.st.DeleteCtx(context.Background(), tok); err != nil {
		e.t.Fatalf("DeleteCtx: %v", err)
	}
}

func expireIdle(_ *env, c *testClock, _ string) { c.advance(11 * time.Minute) }

func putCart(s *Session) { s.Put("cart", "book") }

// RenewToken of a session destroyed since the request loaded it must not
// move its data to a new token (a logout racing a login would be undone).
// The request goes on with a new session.
func TestRenewTokenAfterDestroyElsewhere(t *testing.T) {
	e := newEnv(t, Config{}, nil)
	old := e.seed(map[string]any{"cart": "book"})
	var newTok string
	rec := e.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := e2m(r)
		_ = s.Get("cart")
		destroyElsewhere(e, nil, old)
		if err := s.RenewToken(r.Context()); err != nil {
			t.Errorf("RenewToken = %v, want nil", err)
		}
		if s.Exists("cart") {
			t.Errorf("cart still visible after the session was destroyed")
		}
		s.Put("user", "ann")
		newTok = s.Token()
	}), withToken("POST", "/login", old))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d, want 200", rec.Code)
	}
	if _, ok := e.st.Peek(old); ok {
		t.Errorf("old token resurrected")
	}
	c := sessionCookie(rec.Result())
	if c == nil || c.Value == "" || c.Value == old {
		t.Fatalf("cookie %v, want a fresh token", c)
	}
	if v, _ := e.stored(c.Value, "user"); v != "ann" {
		t.Errorf("new session user = %v, want ann", v)
	}
	if _, ok := e.stored(c.Value, "cart"); ok {
		t.Errorf("the destroyed session's cart moved to the new token")
	}
	if newTok != "" {
		t.Errorf("Token() inside the handler = %q, want \"\" until the new session is stored", newTok)
	}
}

// RenewToken moves what concurrent requests stored after this request
// loaded the session, not just this request's snapshot.
func TestRenewTokenMovesConcurrentChanges(t *testing.T) {
	e := newEnv(t, Config{}, nil)
	old := e.seed(map[string]any{"cart": "book"})
	rec := e.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := e2m(r)
		_ = s.Get("cart")
		// Another request adds a key meanwhile.
		e.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			e2m(r).Put("theme", "dark")
		}), withToken("POST", "/theme", old))
		if err := s.RenewToken(r.Context()); err != nil {
			t.Errorf("RenewToken = %v", err)
		}
	}), withToken("POST", "/login", old))
	c := sessionCookie(rec.Result())
	if c == nil || c.Value == old {
		t.Fatalf("cookie %v, want the new token", c)
	}
	for k, want := range map[string]any{"cart": "book", "theme": "dark"} {
		if v, _ := e.stored(c.Value, k); v != want {
			t.Errorf("renewed session %s = %v, want %v", k, v, want)
		}
	}
}
