package middleware

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/internal/testkit"
	"github.com/e5b1d45c/sessring/middleware/internal/memstore"
	"github.com/e5b1d45c/sessring/store"
)

// userApp is a service with logins: /login?user= renews the token and ties
// the session to the user, /whoami names the user and session ID, /logout
// destroys the session, /logout-others keeps only this session of its user,
// /untie and /tie?user= change the tie without logging in.
func userApp(m *Manager) http.Handler {
	mux := http.NewServeMux()
	fail := func(w http.ResponseWriter, err error) { http.Error(w, err.Error(), StatusFor(err)) }
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		s := m.Session(r)
		if err := s.RenewToken(r.Context()); err != nil {
			fail(w, err)
			return
		}
		if err := s.SetUser(r.URL.Query().Get("user")); err != nil {
			fail(w, err)
			return
		}
		s.Put("n", s.GetInt("n")+1)
		fmt.Fprint(w, "welcome")
	})
	mux.HandleFunc("/tie", func(w http.ResponseWriter, r *http.Request) {
		if err := m.Session(r).SetUser(r.URL.Query().Get("user")); err != nil {
			fail(w, err)
			return
		}
		fmt.Fprint(w, "tied")
	})
	mux.HandleFunc("/count", func(w http.ResponseWriter, r *http.Request) {
		s := m.Session(r)
		s.Put("n", s.GetInt("n")+1)
		fmt.Fprint(w, s.GetInt("n"))
	})
	mux.HandleFunc("/clear", func(w http.ResponseWriter, r *http.Request) {
		m.Session(r).Clear()
		fmt.Fprint(w, "cleared")
	})
	mux.HandleFunc("/whoami", func(w http.ResponseWriter, r *http.Request) {
		s := m.Session(r)
		fmt.Fprintf(w, "%s %s", s.User(), s.ID())
	})
	mux.HandleFunc("/logout", func(w http.ResponseWriter, r *http.Request) {
		if err := m.Session(r).Destroy(r.Context()); err != nil {
			fail(w, err)
			return
		}
		fmt.Fprint(w, "bye")
	})
	mux.HandleFunc("/logout-others", func(w http.ResponseWriter, r *http.Request) {
		s := m.Session(r)
		n, err := m.DestroyUser(r.Context(), s.User(), s.ID())
		if err != nil {
			fail(w, err)
			return
		}
		fmt.Fprint(w, n)
	})
	return mux
}

// newUserEnv serves userApp over st (a memstore, possibly wrapped).
func newUserEnv(t *testing.T, st Store, mem *memstore.Store, cfg Config) *env {
	t.Helper()
	e := &env{t: t, st: mem, log: &logBuffer{}}
	cfg.Logger = slog.New(slog.NewTextHandler(e.log, nil))
	m, err := New(st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.m = m
	e.srv = httptest.NewServer(m.LoadAndSave(userApp(m)))
	t.Cleanup(e.srv.Close)
	return e
}

// tokenOf returns the session token in c's cookie jar, or "".
func (e *env) tokenOf(c *http.Client) string {
	e.t.Helper()
	u, err := url.Parse(e.srv.URL)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == "sessring" {
			return ck.Value
		}
	}
	return ""
}

// login logs c in as user and returns c's session ID.
func (e *env) login(c *http.Client, user string) string {
	e.t.Helper()
	if code, body, _ := e.get(c, "/login?user="+user); code != 200 || body != "welcome" {
		e.t.Fatalf("login %s: %d %q", user, code, body)
	}
	_, body, _ := e.get(c, "/whoami")
	var who, id string
	fmt.Sscan(body, &who, &id)
	if who != user || len(id) != 16 {
		e.t.Fatalf("after login as %s: whoami = %q", user, body)
	}
	return id
}

// whoami returns c's session ID, failing unless the session is tied to
// user ("" for none).
func (e *env) whoami(c *http.Client, user string) string {
	e.t.Helper()
	_, body, _ := e.get(c, "/whoami")
	who, id, found := strings.Cut(body, " ")
	if !found {
		who, id = "", body
	}
	if who != user || len(id) != 16 {
		e.t.Fatalf("whoami = %q, want user %q and a session ID", body, user)
	}
	return id
}

// listed returns the session IDs in user's index (live or not).
func (e *env) listed(user string) []string {
	rec, ok := e.st.Peek(e.m.indexKey(user))
	var ids []string
	if ok {
		for tok := range rec.Fields {
			ids = append(ids, sessionID(tok))
		}
	}
	slices.Sort(ids)
	return ids
}

func ids(us []UserSession) []string {
	var out []string
	for _, u := range us {
		out = append(out, u.ID)
	}
	slices.Sort(out)
	return out
}

func sorted(s ...string) []string { slices.Sort(s); return s }

// TestDestroyUserLogsOutEverywhere: a user logged in on three devices is
// listed three times; logging out the others from one device ends the other
// two sessions (their next request has no session) and leaves the device and
// another user untouched.
func TestDestroyUserLogsOutEverywhere(t *testing.T) {
	var destroyed atomic.Int32
	cfg := DefaultConfig()
	cfg.OnDestroy = func(string) { destroyed.Add(1) }
	mem := memstore.New()
	e := newUserEnv(t, mem, mem, cfg)
	laptop, phone, tablet, other := e.client(), e.client(), e.client(), e.client()
	idLaptop, idPhone, idTablet := e.login(laptop, "ann"), e.login(phone, "ann"), e.login(tablet, "ann")
	idBob := e.login(other, "bob")

	us, err := e.m.UserSessions(context.Background(), "ann")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(us), sorted(idLaptop, idPhone, idTablet); !slices.Equal(got, want) {
		t.Fatalf("UserSessions(ann) = %v, want %v", got, want)
	}
	for _, u := range us {
		if u.Since.IsZero() || u.LastAccess.IsZero() || !u.Deadline.After(time.Now()) {
			t.Errorf("session %+v: want Since, LastAccess and a future Deadline", u)
		}
	}

	if code, body, _ := e.get(laptop, "/logout-others"); code != 200 || body != "2" {
		t.Fatalf("logout-others = %d %q, want 2 sessions destroyed", code, body)
	}
	for name, c := range map[string]*http.Client{"phone": phone, "tablet": tablet} {
		if _, body, resp := e.get(c, "/whoami"); body != "" {
			t.Errorf("%s after log-out-everywhere: whoami %q, want no session", name, body)
		} else if ck := sessionCookie(resp); ck == nil || ck.MaxAge >= 0 {
			t.Errorf("%s: cookie %v, want it expired", name, ck)
		}
	}
	if _, body, _ := e.get(laptop, "/whoami"); body != "ann "+idLaptop {
		t.Errorf("laptop after logging out the others: whoami %q", body)
	}
	if _, body, _ := e.get(other, "/whoami"); body != "bob "+idBob {
		t.Errorf("another user's session: whoami %q", body)
	}
	if got := e.listed("ann"); !slices.Equal(got, []string{idLaptop}) {
		t.Errorf("ann's index after DestroyUser = %v, want only %s", got, idLaptop)
	}
	if n := destroyed.Load(); n != 2 {
		t.Errorf("OnDestroy ran %d times, want 2", n)
	}
	if n, err := e.m.DestroyUser(context.Background(), "ann"); n != 1 || err != nil {
		t.Errorf("DestroyUser(ann) = %d, %v; want 1, nil", n, err)
	}
	if us, err := e.m.UserSessions(context.Background(), "ann"); len(us) != 0 || err != nil {
		t.Errorf("UserSessions after destroying all = %v, %v", us, err)
	}
	if _, err := e.m.UserSessions(context.Background(), ""); !errors.Is(err, ErrBadUser) {
		t.Errorf("UserSessions(\"\") err = %v, want ErrBadUser", err)
	}
}

// TestUserIndexFollowsTheSession: every way a session stops being a user's
// (logout, a new login's token renewal, untying, tying to another user,
// expiry) takes it off that user's list, and Clear keeps the tie.
func TestUserIndexFollowsTheSession(t *testing.T) {
	cfg := DefaultConfig()
	cfg.IdleTimeout = time.Hour
	mem := memstore.New()
	e := newUserEnv(t, mem, mem, cfg)
	clock := e.useClock()
	ctx := context.Background()
	list := func(user string) []string {
		t.Helper()
		us, err := e.m.UserSessions(ctx, user)
		if err != nil {
			t.Fatalf("UserSessions(%s): %v", user, err)
		}
		return ids(us)
	}

	c := e.client()
	first := e.login(c, "ann")
	second := e.login(c, "ann") // renewed: a new token, the old one off the list
	if first == second {
		t.Fatal("second login kept the session ID")
	}
	if got := e.listed("ann"); !slices.Equal(got, []string{second}) {
		t.Errorf("after re-login ann's index = %v, want only %s", got, second)
	}

	e.get(c, "/clear")
	if _, body, _ := e.get(c, "/whoami"); body != "ann "+second {
		t.Errorf("after Clear whoami = %q, want the tie kept", body)
	}

	// Tying to another user renews the token (SetUser): the old one is
	// deleted, so its entry leaves ann's index at once.
	e.get(c, "/tie?user=bob")
	third := e.whoami(c, "bob")
	if third == second {
		t.Errorf("tying to bob kept the session ID %s", second)
	}
	if got, bob := list("ann"), list("bob"); len(got) != 0 || !slices.Equal(bob, []string{third}) {
		t.Errorf("after tying to bob: ann %v, bob %v; want none, [%s]", got, bob, third)
	}
	if got := e.listed("ann"); len(got) != 0 {
		t.Errorf("ann's index right after the re-tie = %v, want empty", got)
	}
	e.get(c, "/tie?user=")
	if got := list("bob"); len(got) != 0 {
		t.Errorf("after untying bob lists %v", got)
	}
	if got := e.listed("bob"); len(got) != 0 {
		t.Errorf("after untying bob's index = %v, want empty", got)
	}
	if fourth := e.whoami(c, ""); fourth == third { // no user
		t.Errorf("untying kept the session ID %s", third)
	}

	// Tying a session that exists only in this request stores it.
	d := e.client()
	if code, _, _ := e.get(d, "/tie?user=cat"); code != 200 {
		t.Fatalf("tie on a new session: %d", code)
	}
	if got := list("cat"); len(got) != 1 {
		t.Fatalf("cat's sessions = %v, want the new one", got)
	}
	e.get(d, "/logout")
	if got := e.listed("cat"); len(got) != 0 {
		t.Errorf("after logout cat's index = %v", got)
	}

	// Expiry is noticed when the list is read.
	x := e.client()
	idX := e.login(x, "dan")
	clock.advance(2 * time.Hour)
	if got := e.listed("dan"); !slices.Equal(got, []string{idX}) {
		t.Fatalf("dan's index before the read = %v", got)
	}
	if got := list("dan"); len(got) != 0 {
		t.Errorf("expired session still listed: %v", got)
	}
	if got := e.listed("dan"); len(got) != 0 {
		t.Errorf("expired session's entry not dropped: %v", got)
	}
}

// failingIndex is a memstore whose user-index writes fail while down is set.
type failingIndex struct {
	*memstore.Store
	down atomic.Bool
}

func (f *failingIndex) Apply(ctx context.Context, tok string, m store.Mutation) (store.Record, error) {
	if f.down.Load() && isIndexToken(tok) {
		return store.Record{}, fmt.Errorf("index owner unreachable: %w", store.ErrUnavailable)
	}
	return f.Store.Apply(ctx, tok, m)
}

// TestUserIndexWrittenFirst: when the index cannot be written, the session
// is not stored as the user's and the request fails (503), so a session
// DestroyUser cannot find never exists.
func TestUserIndexWrittenFirst(t *testing.T) {
	mem := memstore.New()
	st := &failingIndex{Store: mem}
	e := newUserEnv(t, st, mem, DefaultConfig())

	c := e.client()
	if code, body, _ := e.get(c, "/count"); code != 200 || body != "1" {
		t.Fatalf("count: %d %q", code, body)
	}
	st.down.Store(true)
	if code, _, _ := e.get(c, "/tie?user=ann"); code != http.StatusServiceUnavailable {
		t.Errorf("tie with the index down: %d, want 503", code)
	}
	if rec, ok := mem.Peek(e.tokenOf(c)); !ok || len(rec.Fields[userKey]) != 0 {
		t.Errorf("existing session: stored %v, user %q; want it kept and not tied while the index was down", ok, rec.Fields[userKey])
	}
	if code, _, _ := e.get(c, "/login?user=ann"); code != http.StatusServiceUnavailable {
		t.Errorf("login with the index down: %d, want 503", code)
	}
	fresh := e.client()
	if code, _, _ := e.get(fresh, "/tie?user=ann"); code != http.StatusServiceUnavailable {
		t.Errorf("tie of a new session with the index down: %d, want 503", code)
	}
	if tok := e.tokenOf(fresh); tok != "" {
		t.Errorf("a session was stored for a failed first request: %s", sessionID(tok))
	}
	// The login's token renewal happened; tying the renewed session failed.
	for _, tok := range mem.Tokens() {
		if rec, _ := mem.Peek(tok); len(rec.Fields[userKey]) != 0 {
			t.Errorf("session %s stored as %q's while the index was down", sessionID(tok), rec.Fields[userKey])
		}
	}
	st.down.Store(false)
	id := e.login(c, "ann")
	if us, err := e.m.UserSessions(context.Background(), "ann"); err != nil || !slices.Equal(ids(us), []string{id}) {
		t.Errorf("after the index came back: %v, %v; want [%s]", ids(us), err, id)
	}
}

// TestUserIndexIsNotASession: the index key cannot be presented as a token,
// and its expiry is not reported as a session's.
func TestUserIndexIsNotASession(t *testing.T) {
	if err := ValidateToken(indexToken("sessring", "ann")); !errors.Is(err, ErrBadToken) {
		t.Fatalf("ValidateToken(index key) = %v, want ErrBadToken", err)
	}
	var expired []string
	var mu sync.Mutex
	cfg := DefaultConfig()
	cfg.Lifetime = time.Hour
	cfg.OnExpire = func(tok string) { mu.Lock(); expired = append(expired, tok); mu.Unlock() }
	mem := memstore.New()
	e := newUserEnv(t, mem, mem, cfg)
	clock := e.useClock()
	e.login(e.client(), "ann")
	clock.advance(3 * time.Hour)
	if n := mem.Sweep(); n != 2 {
		t.Fatalf("swept %d records, want the session and its index", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(expired) != 1 || isIndexToken(expired[0]) {
		t.Errorf("OnExpire saw %v, want just the session", expired)
	}
	if err := (&Session{m: e.m, detached: true}).SetUser("x"); !errors.Is(err, ErrNoSession) {
		t.Errorf("SetUser on a detached session = %v", err)
	}
	if err := (&Session{m: e.m}).SetUser(string(make([]byte, MaxUserIDLen+1))); !errors.Is(err, ErrBadUser) {
		t.Errorf("SetUser(too long) = %v", err)
	}
}

// TestUserIndexPrunes: an index whose sessions ended without the middleware
// seeing it (deleted behind its back, lost) is pruned as it grows, so it
// stays about as large as the user's live sessions.
func TestUserIndexPrunes(t *testing.T) {
	mem := memstore.New()
	cfg := DefaultConfig()
	cfg.IdleTimeout = -1 // the clock runs for hours: the live sessions must stay live
	e := newUserEnv(t, mem, mem, cfg)
	clock := e.useClock()
	ctx := context.Background()
	live := 0
	for i := range 3 * pruneAbove {
		clock.advance(e.m.indexGrace() / 4) // entries pass their grace as logins go on
		c := e.client()
		e.login(c, "bot")
		if i%10 == 0 {
			live++
			continue
		}
		// End the session behind the middleware's back.
		if err := mem.DeleteCtx(ctx, e.tokenOf(c)); err != nil {
			t.Fatal(err)
		}
	}
	e.waitPruned() // pruning runs after the login requests
	if n := len(e.listed("bot")); n > pruneAbove+pruneEvery {
		t.Errorf("index holds %d entries for %d live sessions, want at most %d", n, live, pruneAbove+pruneEvery)
	}
	us, err := e.m.UserSessions(ctx, "bot")
	if err != nil || len(us) != live {
		t.Errorf("UserSessions = %d sessions, %v; want %d", len(us), err, live)
	}
}

// TestSetUserRenewsToken: changing the user a stored session is tied to
// renews its token (session fixation): the token the client held no longer
// loads the session, the response sends the new one, the values survive,
// and only the new token is listed in the user's index.
func TestSetUserRenewsToken(t *testing.T) {
	for _, tc := range []struct {
		name      string
		setup     []string // requests before the one checked
		path      string   // the request checked
		user      string   // the user tied afterwards
		wantRenew int      // token renewals the checked request makes
	}{
		{"anonymous session logs in", []string{"/count"}, "/tie?user=ann", "ann", 1},
		{"another user", []string{"/count", "/tie?user=ann"}, "/tie?user=bob", "bob", 1},
		{"untie", []string{"/count", "/tie?user=ann"}, "/tie?user=", "", 1},
		{"same user again", []string{"/count", "/tie?user=ann"}, "/tie?user=ann", "ann", 0},
		{"RenewToken first: renewed once", []string{"/count"}, "/login?user=ann", "ann", 1},
		{"new session: no renewal", nil, "/tie?user=ann", "ann", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := memstore.New()
			e := newUserEnv(t, mem, mem, DefaultConfig())
			c := e.client()
			for _, p := range tc.setup {
				if code, body, _ := e.get(c, p); code != 200 {
					t.Fatalf("setup %s = %d %q", p, code, body)
				}
			}
			old, oldUser := e.tokenOf(c), e.userOf(c)
			renewed := e.m.Stats().Renewed
			if code, body, _ := e.get(c, tc.path); code != 200 {
				t.Fatalf("%s = %d %q", tc.path, code, body)
			}
			tok := e.tokenOf(c)
			if got := int(e.m.Stats().Renewed - renewed); got != tc.wantRenew {
				t.Errorf("token renewals = %d, want %d", got, tc.wantRenew)
			}
			if rec, ok := mem.Peek(tok); !ok || string(rec.Fields[userKey]) != tc.user {
				t.Fatalf("session under the cookie's token: stored %v, user %q; want user %q", ok, rec.Fields[userKey], tc.user)
			}
			if old != "" && tc.wantRenew > 0 {
				if tok == old {
					t.Fatalf("token kept across the change of user")
				}
				if _, ok := mem.Peek(old); ok {
					t.Errorf("the old token still loads the session")
				}
				if n, ok := e.stored(tok, "n"); !ok {
					t.Errorf("after the renewal n = %v, want the value kept", n)
				}
			}
			if tc.wantRenew == 0 && old != "" && tok != old {
				t.Errorf("token renewed although the user did not change")
			}
			if tc.user != "" {
				if got := e.listed(tc.user); !slices.Equal(got, []string{sessionID(tok)}) {
					t.Errorf("%s's index = %v, want only the new token's %s", tc.user, got, sessionID(tok))
				}
			}
			if oldUser != "" && oldUser != tc.user {
				if got := e.listed(oldUser); len(got) != 0 {
					t.Errorf("%s's index = %v, want the old token dropped", oldUser, got)
				}
			}
		})
	}
}

// userOf returns the user c's session is tied to, from the store.
func (e *env) userOf(c *http.Client) string {
	rec, _ := e.st.Peek(e.tokenOf(c))
	return string(rec.Fields[userKey])
}

// TestSetUserAfterHeaders: a change of user on a session the client holds
// needs a new cookie, so after the headers left SetUser refuses it and the
// tie stays as it was.
func TestSetUserAfterHeaders(t *testing.T) {
	mem := memstore.New()
	e := newUserEnv(t, mem, mem, DefaultConfig())
	c := e.client()
	e.login(c, "ann")
	tok := e.tokenOf(c)
	var err error
	app := userApp(e.m)
	e.srv.Config.Handler = e.m.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/late-tie" {
			app.ServeHTTP(w, r)
			return
		}
		w.Write([]byte("x"))
		err = e.m.Session(r).SetUser("bob")
	}))
	e.get(c, "/late-tie")
	if !errors.Is(err, ErrHeadersWritten) {
		t.Errorf("SetUser after the headers = %v, want ErrHeadersWritten", err)
	}
	if got := e.tokenOf(c); got != tok {
		t.Errorf("token changed from %s to %s", sessionID(tok), sessionID(got))
	}
	if got := e.userOf(c); got != "ann" {
		t.Errorf("user after a refused late SetUser = %q, want ann", got)
	}
}

// TestSetUserRenewsTokenRace: a request that clears the session while
// another one ties it to bob (renewing the token) finds its session gone
// and stores nothing; no session is stored as anyone's without being
// listed, and the old token loads nothing.
func TestSetUserRenewsTokenRace(t *testing.T) {
	mem := memstore.New()
	e := newUserEnv(t, mem, mem, DefaultConfig())
	c := e.client()
	e.login(c, "ann")
	old := e.tokenOf(c)
	other := e.client() // the same session in another tab, which the re-tie reaches first
	u, _ := url.Parse(e.srv.URL)
	other.Jar.SetCookies(u, []*http.Cookie{{Name: "sessring", Value: old}})
	app := userApp(e.m)
	e.srv.Config.Handler = e.m.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/slow-clear" {
			app.ServeHTTP(w, r)
			return
		}
		e.m.Session(r).Clear()
		e.get(other, "/tie?user=bob") // meanwhile, on another node
	}))
	e.get(c, "/slow-clear")
	if _, ok := mem.Peek(old); ok {
		t.Errorf("the token from before the re-tie still loads a session")
	}
	if e.whoami(other, "bob") == sessionID(old) {
		t.Errorf("the re-tie kept the token")
	}
	e.checkListed(t, "ann")
	e.checkListed(t, "bob")
}

// waitPruned waits until the background index maintenance is idle.
func (e *env) waitPruned() {
	e.t.Helper()
	testkit.Eventually(e.t, 10*time.Second, "user index maintenance idle", func() bool {
		j := &e.m.janitor
		j.mu.Lock()
		defer j.mu.Unlock()
		return !j.running && len(j.pending) == 0
	})
}

// TestSessionsPerUserCapped: an account that logs in far more often than
// MaxSessionsPerUser keeps at most that many live sessions, the newest;
// its logins never fail, even with a store limit the uncapped index would
// pass; and the capping happens after the login requests, not in them.
func TestSessionsPerUserCapped(t *testing.T) {
	mem := memstore.New()
	mem.SetMaxBytes(8 << 10) // an index of ~100 entries: fewer logins than the test makes
	cfg := DefaultConfig()
	cfg.MaxSessionsPerUser = 5
	e := newUserEnv(t, mem, mem, cfg)
	clock := e.useClock()
	var clients []*http.Client
	for range 300 {
		clock.advance(e.m.indexGrace() / 4)
		c := e.client()
		e.login(c, "bot") // fails the test on any error
		clients = append(clients, c)
	}
	e.waitPruned()
	us, err := e.m.UserSessions(context.Background(), "bot")
	if err != nil || len(us) != 5 {
		t.Fatalf("UserSessions = %d sessions, %v; want the cap, 5", len(us), err)
	}
	newest := map[string]bool{}
	for _, c := range clients[len(clients)-5:] {
		newest[sessionID(e.tokenOf(c))] = true
	}
	for _, u := range us {
		if !newest[u.ID] {
			t.Errorf("session %s kept, want only the 5 newest", u.ID)
		}
	}
	if s := e.m.Stats(); s.Capped < 290 {
		t.Errorf("Stats.Capped = %d, want the 295 sessions over the cap", s.Capped)
	}
}
