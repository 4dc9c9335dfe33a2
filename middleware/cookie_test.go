package middleware

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/middleware/internal/memstore"
	"github.com/e5b1d45c/sessring/store"
)

func TestUntrustedTokens(t *testing.T) {
	e := newEnv(t, Config{}, nil)
	forged := "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	tests := []struct {
		name          string
		cookie        string
		wantBad       uint64
		wantMiss      uint64
		wantExpireOld bool
	}{
		{"bad characters", "abc$%^", 1, 0, false},
		{"oversized", strings.Repeat("a", store.MaxTokenLen+1), 1, 0, false},
		{"forged", forged, 0, 1, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := e.m.Stats()
			for _, write := range []bool{false, true} {
				req := httptest.NewRequest("GET", "/", nil)
				req.Header.Set("Cookie", "sessring="+tc.cookie)
				rec := e.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					s := e.m.Session(r)
					if s.Token() != "" || len(s.Keys()) != 0 {
						t.Errorf("untrusted token gave a session: token %q keys %v", s.Token(), s.Keys())
					}
					if write {
						s.Put("k", 1)
					}
				}), req)
				c := sessionCookie(rec.Result())
				switch {
				case rec.Code != 200:
					t.Errorf("status = %d, want 200", rec.Code)
				case write && (c == nil || c.Value == tc.cookie || c.Value == ""):
					t.Errorf("write: cookie %v, want a fresh token", c)
				case !write && tc.wantExpireOld && (c == nil || c.MaxAge >= 0):
					t.Errorf("read: cookie %v, want the stale cookie expired", c)
				}
			}
			after := e.m.Stats()
			if bad, miss := after.BadTokens-before.BadTokens, after.LoadMisses-before.LoadMisses; bad != 2*tc.wantBad || miss != 2*tc.wantMiss {
				t.Errorf("BadTokens +%d LoadMisses +%d, want +%d +%d", bad, miss, 2*tc.wantBad, 2*tc.wantMiss)
			}
		})
	}
}

func TestSeveralSessionCookies(t *testing.T) {
	e := newEnv(t, Config{}, nil)
	tok := e.seed(map[string]any{"user": "ann"})
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Cookie", "sessring=bad!; sessring=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA; sessring="+tok)
	var user string
	rec := e.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user = e.m.Session(r).GetString("user")
	}), req)
	if user != "ann" || rec.Code != 200 {
		t.Errorf("user = %q, status %d; want ann, 200", user, rec.Code)
	}
	if c := sessionCookie(rec.Result()); c != nil {
		t.Errorf("Set-Cookie %v on an unchanged session, want none", c)
	}
}

func TestSessionOfAnotherKind(t *testing.T) {
	e := newEnv(t, Config{}, nil)
	e.st.Put("bytesSession", store.Record{Kind: store.KindBytes, Value: []byte("scs"), Version: 1})
	rec := e.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.m.Session(r).Put("k", 1)
	}), withToken("GET", "/", "bytesSession"))
	c := sessionCookie(rec.Result())
	if rec.Code != 200 || c == nil || c.Value == "bytesSession" {
		t.Errorf("status %d cookie %v: want 200 and a new session", rec.Code, c)
	}
}

func TestCookieAttributes(t *testing.T) {
	put := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _ := FromContext(r.Context())
		s.Put("k", 1)
		if r.URL.Query().Get("remember") != "" {
			s.RememberMe(true)
		}
	})
	tests := []struct {
		name       string
		mutate     func(*Config)
		host       string // "": example.com
		tls        bool
		xfp        string
		query      string
		wantSecure bool
		wantMaxAge bool
	}{
		{"plain http defaults", nil, "", false, "", "", true, true},
		{"plain http to localhost", nil, "localhost:8080", false, "", "", false, true},
		{"tls", nil, "", true, "", "", true, true},
		{"untrusted proxy header", nil, "localhost", false, "https", "", true, true},
		{"trusted proxy header", func(c *Config) { c.Cookie.TrustForwardedProto = true }, "", false, "https, http", "", true, true},
		{"secure always", func(c *Config) { c.Cookie.Secure = SecureAlways }, "localhost", false, "", "", true, true},
		{"secure never", func(c *Config) { c.Cookie.Secure = SecureNever }, "", true, "", "", false, true},
		{"browser-session cookie", func(c *Config) { c.Cookie.Persist = new(false) }, "localhost", false, "", "", false, false},
		{"remember me", func(c *Config) { c.Cookie.Persist = new(false) }, "localhost", false, "", "?remember=1", false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.IdleTimeout = -1 // Max-Age mirrors Lifetime alone (idle: TestIdleTouchThrottledAndCookieFollowsDeadline)
			if tc.mutate != nil {
				tc.mutate(&cfg)
			}
			e := newEnv(t, cfg, nil)
			req := httptest.NewRequest("GET", "/"+tc.query, nil)
			if tc.host != "" {
				req.Host = tc.host
			}
			if tc.tls {
				req.TLS = &tls.ConnectionState{}
			}
			if tc.xfp != "" {
				req.Header.Set("X-Forwarded-Proto", tc.xfp)
			}
			rec := e.serve(put, req)
			c := sessionCookie(rec.Result())
			if c == nil {
				t.Fatal("no session cookie")
			}
			if c.Secure != tc.wantSecure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" {
				t.Errorf("cookie Secure=%v HttpOnly=%v SameSite=%v Path=%q, want Secure=%v HttpOnly Lax /",
					c.Secure, c.HttpOnly, c.SameSite, c.Path, tc.wantSecure)
			}
			if got := c.MaxAge > 0; got != tc.wantMaxAge {
				t.Errorf("Max-Age = %d, want persistent = %v", c.MaxAge, tc.wantMaxAge)
			}
			if tc.wantMaxAge && (c.MaxAge < 86399 || c.MaxAge > 86401) {
				t.Errorf("Max-Age = %d, want the 24h server lifetime", c.MaxAge)
			}
		})
	}
}

// TestSecureAutoByHost: SecureAuto leaves Secure off only for plain HTTP
// that reached the server directly for a loopback host, which is local
// development; any other host, and anything that came through a proxy, gets
// a Secure cookie (behind a TLS proxy that forwards to 127.0.0.1 too).
func TestSecureAutoByHost(t *testing.T) {
	tests := []struct {
		host   string
		header string // "Name: value" added to the request
		trust  bool   // TrustForwardedProto
		want   bool
	}{
		{"localhost", "", false, false},
		{"localhost:8080", "", false, false},
		{"LOCALHOST.", "", false, false},
		{"app.localhost:3000", "", false, false},
		{"127.0.0.1:8080", "", false, false},
		{"127.1.2.3", "", false, false},
		{"[::1]:8080", "", false, false},
		{"example.com", "", false, true},
		{"app.example.com:8080", "", false, true},
		{"10.0.0.5:8080", "", false, true},
		{"[2001:db8::1]:443", "", false, true},
		{"localhost.example.com", "", false, true},
		{"", "", false, true},
		{"127.0.0.1:8080", "X-Forwarded-For: 203.0.113.9", false, true},
		{"127.0.0.1:8080", "Forwarded: for=203.0.113.9;proto=https", false, true},
		{"127.0.0.1:8080", "X-Forwarded-Proto: http", false, true},
		{"example.com", "X-Forwarded-Proto: http", true, false},
		{"127.0.0.1:8080", "X-Forwarded-Proto: https", true, true},
	}
	for _, tc := range tests {
		cfg := DefaultConfig()
		cfg.Cookie.TrustForwardedProto = tc.trust
		e := newEnv(t, cfg, nil)
		req := httptest.NewRequest("GET", "/", nil)
		req.Host = tc.host
		if name, value, ok := strings.Cut(tc.header, ": "); ok {
			req.Header.Set(name, value)
		}
		if got := e.m.secure(req); got != tc.want {
			t.Errorf("secure(Host %q, %q, trusted proxy %v) = %v, want %v", tc.host, tc.header, tc.trust, got, tc.want)
		}
	}
}

// TestCookieConfigMerges: a CookieConfig with some fields set keeps the
// defaults of the others; HttpOnly in particular stays on unless turned
// off explicitly.
func TestCookieConfigMerges(t *testing.T) {
	put := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { e2m(r).Put("k", 1) })
	tests := []struct {
		name         string
		cookie       CookieConfig
		wantName     string
		wantHttpOnly bool
		wantPersist  bool
	}{
		{"name only", CookieConfig{Name: "app"}, "app", true, true},
		{"secure only", CookieConfig{Secure: SecureAlways}, "sessring", true, true},
		{"domain only", CookieConfig{Domain: "example.com"}, "sessring", true, true},
		{"persist off", CookieConfig{Name: "app", Persist: new(false)}, "app", true, false},
		{"httponly off", CookieConfig{HttpOnly: new(false)}, "sessring", false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Config{Cookie: tc.cookie}, nil)
			res := e.serve(put, httptest.NewRequest("GET", "/", nil)).Result()
			var c *http.Cookie
			for _, ck := range res.Cookies() {
				if ck.Name == tc.wantName {
					c = ck
				}
			}
			if c == nil {
				t.Fatalf("no cookie named %q in %v", tc.wantName, res.Header.Values("Set-Cookie"))
			}
			if c.HttpOnly != tc.wantHttpOnly || (c.MaxAge > 0) != tc.wantPersist || c.Path != "/" || c.SameSite != http.SameSiteLaxMode {
				t.Errorf("cookie HttpOnly=%v persistent=%v Path=%q SameSite=%v; want HttpOnly=%v persistent=%v Path \"/\" Lax",
					c.HttpOnly, c.MaxAge > 0, c.Path, c.SameSite, tc.wantHttpOnly, tc.wantPersist)
			}
		})
	}
}

func TestSetCookieOnlyWhenNeeded(t *testing.T) {
	// Without idle expiry: with it, a write moves the deadline the cookie
	// mirrors (TestIdleTouchThrottledAndCookieFollowsDeadline).
	e := newEnv(t, Config{IdleTimeout: -1}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := e2m(r)
		if r.URL.Path == "/write" {
			s.Put("n", s.GetInt("n")+1)
		}
	}))
	c := e.client()
	steps := []struct {
		path       string
		wantCookie bool
	}{{"/write", true}, {"/read", false}, {"/write", false}, {"/read", false}}
	for i, st := range steps {
		_, _, resp := e.get(c, st.path)
		if got := sessionCookie(resp) != nil; got != st.wantCookie {
			t.Errorf("step %d %s: Set-Cookie = %v, want %v", i, st.path, got, st.wantCookie)
		}
		if !strings.Contains(strings.Join(resp.Header.Values("Vary"), ","), "Cookie") {
			t.Errorf("step %d: Vary %q lacks Cookie", i, resp.Header.Values("Vary"))
		}
	}
}

// e2m finds the session of whichever Manager serves r.
func e2m(r *http.Request) *Session {
	s, _ := FromContext(r.Context())
	return s
}

func TestIdleTouchThrottledAndCookieFollowsDeadline(t *testing.T) {
	cfg := DefaultConfig()
	cfg.IdleTimeout = 10 * time.Minute
	cfg.TouchInterval = time.Minute
	e := newEnv(t, cfg, nil)
	clock := e.useClock()
	tok := e.seed(map[string]any{"a": 1})
	read := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _ = e2m(r).Get("a") })
	steps := []struct {
		advance    time.Duration
		wantTouch  bool
		wantCookie bool
	}{{30 * time.Second, false, false}, {31 * time.Second, true, true}, {10 * time.Second, false, false}}
	for i, st := range steps {
		clock.advance(st.advance)
		before := e.m.Stats().Touches
		rec := e.serve(read, withToken("GET", "/", tok))
		if got := e.m.Stats().Touches > before; got != st.wantTouch {
			t.Errorf("step %d: touched = %v, want %v", i, got, st.wantTouch)
		}
		c := sessionCookie(rec.Result())
		if got := c != nil; got != st.wantCookie {
			t.Errorf("step %d: Set-Cookie = %v, want %v", i, got, st.wantCookie)
		}
		if c != nil && c.MaxAge != int((10*time.Minute).Seconds()) {
			t.Errorf("step %d: Max-Age = %d, want the idle deadline 600", i, c.MaxAge)
		}
	}
	if muts := e.rs.mutations(); len(muts) != 1 || !muts[0].Touch || len(muts[0].Set) != 0 || !muts[0].Expiry.IsZero() {
		t.Errorf("mutations %+v, want exactly one bare Touch", muts)
	}
}

func TestTokenHeaderForAPIClients(t *testing.T) {
	cfg := DefaultConfig()
	cfg.IdleTimeout = -1 // the header is re-sent when the idle deadline moves
	cfg.TokenHeader = "X-Session"
	e := newEnv(t, cfg, nil)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := e2m(r)
		s.Put("n", s.GetInt("n")+1)
	})
	rec := e.serve(h, getReq())
	tok := rec.Header().Get("X-Session")
	if tok == "" {
		t.Fatal("no token in X-Session")
	}
	req := getReq()
	req.Header.Set("X-Session", tok)
	rec = e.serve(h, req)
	if v, _ := e.stored(tok, "n"); v != 2 {
		t.Errorf("n = %v after two requests, want 2", v)
	}
	if got := rec.Header().Get("X-Session"); got != "" {
		t.Errorf("X-Session re-sent (%q) for an unchanged token", got)
	}
	if !strings.Contains(strings.Join(rec.Header().Values("Vary"), ","), "X-Session") {
		t.Errorf("Vary lacks X-Session")
	}
}

// TestTokenHeaderNotCached: a response that carries the token in
// TokenHeader is marked "private, no-store", whatever the handler set, and
// varies on the cookie and the header; a response without a token keeps
// the handler's caching.
func TestTokenHeaderNotCached(t *testing.T) {
	cfg := DefaultConfig()
	cfg.TokenHeader = "X-Session"
	e := newEnv(t, cfg, nil)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=600")
		if r.URL.Query().Has("write") {
			e2m(r).Put("n", 1)
		}
		fmt.Fprint(w, "page")
	})
	created := e.serve(h, httptest.NewRequest("GET", "/?write=1", nil))
	tok := created.Header().Get("X-Session")
	if tok == "" {
		t.Fatal("no token in X-Session")
	}
	reuse := httptest.NewRequest("GET", "/", nil)
	reuse.Header.Set("X-Session", tok)
	unchanged := e.serve(h, reuse)
	tests := []struct {
		name      string
		rec       *httptest.ResponseRecorder
		wantToken bool
		wantCache string
	}{
		{"new token sent", created, true, "private, no-store"},
		{"no token sent", unchanged, false, "public, max-age=600"},
	}
	for _, tc := range tests {
		h := tc.rec.Header()
		if got := h.Get("X-Session") != ""; got != tc.wantToken {
			t.Errorf("%s: X-Session present = %v, want %v", tc.name, got, tc.wantToken)
		}
		if got := strings.Join(h.Values("Cache-Control"), ", "); got != tc.wantCache {
			t.Errorf("%s: Cache-Control = %q, want %q", tc.name, got, tc.wantCache)
		}
		vary := strings.Join(h.Values("Vary"), ",")
		if !strings.Contains(vary, "Cookie") || !strings.Contains(vary, "X-Session") {
			t.Errorf("%s: Vary = %q, want Cookie and X-Session", tc.name, vary)
		}
	}
}

func TestIgnorePatternSkipsSessions(t *testing.T) {
	cfg := DefaultConfig()
	cfg.IgnorePattern = regexp.MustCompile(`^/static/`)
	e := newEnv(t, cfg, nil)
	tok := e.seed(map[string]any{"a": 1})
	rec := e.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := FromContext(r.Context()); ok {
			t.Errorf("session attached on an ignored path")
		}
	}), withToken("GET", "/static/app.css", tok))
	if rec.Header().Get("Vary") != "" || sessionCookie(rec.Result()) != nil {
		t.Errorf("ignored path got Vary %q / cookie", rec.Header().Get("Vary"))
	}
	if e.st.Calls(memstore.OpLoad) != 0 || e.m.Stats().Ignored != 1 {
		t.Errorf("loads = %d, Ignored = %d; want 0, 1", e.st.Calls(memstore.OpLoad), e.m.Stats().Ignored)
	}
}

func TestRememberMeIsStoredWithTheSession(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Cookie.Persist = new(false)
	cfg.IdleTimeout = 10 * time.Minute
	e := newEnv(t, cfg, nil)
	clock := e.useClock()
	rec := e.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := e2m(r)
		s.Put("user", "ann")
		s.RememberMe(true)
	}), getReq())
	c := sessionCookie(rec.Result())
	if c == nil || c.MaxAge <= 0 {
		t.Fatalf("cookie %v, want persistent after RememberMe(true)", c)
	}
	clock.advance(5 * time.Minute) // past TouchInterval: the read touches and the deadline moves
	rec = e.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s := e2m(r); !s.Persistent() || s.Exists(persistKey) {
			t.Errorf("Persistent = %v, reserved key visible = %v", s.Persistent(), s.Exists(persistKey))
		}
	}), withToken("GET", "/", c.Value))
	if c2 := sessionCookie(rec.Result()); c2 == nil || c2.MaxAge != 600 {
		t.Errorf("re-sent cookie %v, want persistent with Max-Age 600", c2)
	}
}

// Under an idle timeout, frequent writes each move the deadline by less than
// a second; the browser's cookie must still follow the server deadline
// rather than expire while the session lives.
func TestCookieFollowsManySmallDeadlineMoves(t *testing.T) {
	cfg := DefaultConfig()
	cfg.IdleTimeout = 10 * time.Second
	e := newEnv(t, cfg, nil)
	clock := e.useClock()
	write := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := e2m(r)
		s.Put("n", s.GetInt("n")+1)
	})
	c := sessionCookie(e.serve(write, getReq()).Result())
	if c == nil {
		t.Fatal("no cookie for the new session")
	}
	tok, browserExpiry := c.Value, clock.now().Add(time.Duration(c.MaxAge)*time.Second)
	for i := range 100 { // 50 s of writes, 500 ms apart: five idle timeouts
		clock.advance(500 * time.Millisecond)
		if clock.now().After(browserExpiry) {
			t.Fatalf("write %d: the browser dropped the cookie at %v although the session was active", i, browserExpiry)
		}
		if c := sessionCookie(e.serve(write, withToken("POST", "/", tok)).Result()); c != nil {
			browserExpiry = clock.now().Add(time.Duration(c.MaxAge) * time.Second)
		}
	}
	rec, _ := e.st.Peek(tok)
	if got := browserExpiry.Sub(rec.Deadline()); got < 0 || got >= time.Second {
		t.Errorf("browser expiry - server deadline = %v, want within [0, 1s)", got)
	}
}

// TestIdleExpiryByDefault: a zero Config expires a session idle for 30
// minutes, and its cookie says so, so abandoned sessions do not hold
// memory for the whole Lifetime.
func TestIdleExpiryByDefault(t *testing.T) {
	e := newEnv(t, Config{}, nil)
	put := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { e2m(r).Put("n", 1) })
	rec := e.serve(put, httptest.NewRequest("GET", "/", nil))
	c := sessionCookie(rec.Result())
	if c == nil || c.MaxAge != int((30*time.Minute).Seconds()) {
		t.Fatalf("Set-Cookie %v, want Max-Age 1800 (the idle deadline)", c)
	}
	if got := e.m.cfg.IdleTimeout; got != 30*time.Minute {
		t.Errorf("effective IdleTimeout = %v, want 30m", got)
	}
}
