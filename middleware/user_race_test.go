package middleware

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/middleware/internal/memstore"
	"github.com/e5b1d45c/sessring/store"
)

// The user index must list every session stored as the user's, whatever
// runs concurrently. These tests stop a write at the worst moment and run
// the concurrent operation there (found by review; each failed before the
// fix it names).

// hookStore runs hook once, just before the first write that match
// accepts, or just after the first load of afterLoad.
type hookStore struct {
	*memstore.Store
	match     func(tok string, m store.Mutation) bool
	afterLoad string
	hook      func()
	fired     atomic.Bool
}

func (h *hookStore) Load(ctx context.Context, tok string) (store.Record, bool, error) {
	rec, ok, err := h.Store.Load(ctx, tok)
	if tok == h.afterLoad && h.fired.CompareAndSwap(false, true) {
		h.hook()
	}
	return rec, ok, err
}

func (h *hookStore) Apply(ctx context.Context, tok string, m store.Mutation) (store.Record, error) {
	if h.match != nil && h.match(tok, m) && h.fired.CompareAndSwap(false, true) {
		h.hook()
	}
	return h.Store.Apply(ctx, tok, m)
}

// unlisted returns the sessions stored as user's that e's index of user
// does not list: sessions DestroyUser would miss.
func (e *env) unlisted(user string) []string {
	idx, _ := e.st.Peek(e.m.indexKey(user))
	var out []string
	for _, tok := range e.st.Tokens() {
		rec, ok := e.st.Peek(tok)
		if _, listed := idx.Fields[tok]; ok && !isIndexToken(tok) && string(rec.Fields[userKey]) == user && !listed {
			out = append(out, sessionID(tok))
		}
	}
	return out
}

func (e *env) checkListed(t *testing.T, user string) {
	t.Helper()
	if u := e.unlisted(user); len(u) > 0 {
		t.Errorf("sessions stored as %s's but not in the index: %v", user, u)
	}
}

// A read of the list (a "your devices" page, a DestroyUser) between a
// login's index entry and its session write must not drop the entry as
// dead (fix: entries younger than indexGrace are not judged).
func TestUserIndexReadDuringLogin(t *testing.T) {
	for _, op := range []string{"UserSessions", "DestroyUser"} {
		t.Run(op, func(t *testing.T) {
			mem := memstore.New()
			hs := &hookStore{Store: mem}
			e := newUserEnv(t, hs, mem, DefaultConfig())
			e.login(e.client(), "ann")
			hs.match = func(tok string, m store.Mutation) bool { return !isIndexToken(tok) && len(m.Set[userKey]) > 0 }
			hs.hook = func() {
				if op == "UserSessions" {
					e.m.UserSessions(context.Background(), "ann")
				} else {
					e.m.DestroyUser(context.Background(), "ann")
				}
			}
			c := e.client()
			e.login(c, "ann")
			if !hs.fired.Load() {
				t.Fatal("the hook never ran")
			}
			e.checkListed(t, "ann")
			want := 2 // the first device and the login that raced the read
			if op == "DestroyUser" {
				want = 1 // the first device went in the hook
			}
			if n, err := e.m.DestroyUser(context.Background(), "ann"); n != want || err != nil {
				t.Errorf("DestroyUser = %d, %v; want %d", n, err, want)
			}
			if _, body, _ := e.get(c, "/whoami"); body != "" {
				t.Errorf("after DestroyUser: whoami %q", body)
			}
		})
	}
}

// Tying a session to bob must not remove it from ann's index while a
// concurrent request ties it back to ann (fix: no eager removal on a
// re-tie; stale entries go when checked, after their grace, and only if the
// index has not changed since it was read).
func TestUserIndexRetieRace(t *testing.T) {
	mem := memstore.New()
	hs := &hookStore{Store: mem}
	e := newUserEnv(t, hs, mem, DefaultConfig())
	c := e.client()
	e.login(c, "ann")
	hs.match = func(tok string, m store.Mutation) bool {
		return !isIndexToken(tok) && string(m.Set[userKey]) == "bob"
	}
	hs.hook = func() { e.get(c, "/tie?user=ann") } // lands first
	e.get(c, "/tie?user=bob")
	hs.fired.Store(true)
	e.get(c, "/tie?user=ann") // bob's write won; tie back to ann
	e.checkListed(t, "ann")
	e.checkListed(t, "bob")
}

// retieAsBefore ties tok to user the way a node of the previous release
// does during a rolling upgrade: index entry first, then the tie, under the
// same token (releases since renew the token, see SetUser). It is how an
// index comes to list a live session of another user.
func (e *env) retieAsBefore(tok, user string) {
	e.t.Helper()
	ctx := context.Background()
	if _, err := e.m.indexAdd(ctx, user, tok); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.st.Apply(ctx, tok, store.Mutation{Set: map[string][]byte{userKey: []byte(user)}, IfExists: true}); err != nil {
		e.t.Fatal(err)
	}
}

// A read of ann's list judges an old entry dead (its session is bob's);
// before it removes the entry, another request ties the session back to ann
// and lists it afresh. The removal must not take the fresh entry (fix:
// removals are conditional on the index version the judgement was made on).
// The re-ties keep the token, as on a node of the previous release: this
// one renews it, which leaves no old entry to judge.
func TestUserIndexStaleJudgement(t *testing.T) {
	mem := memstore.New()
	hs := &hookStore{Store: mem}
	e := newUserEnv(t, hs, mem, DefaultConfig())
	clock := e.useClock()
	c := e.client()
	e.login(c, "ann")
	tok := e.tokenOf(c)
	e.retieAsBefore(tok, "bob")
	clock.advance(e.m.indexGrace() + time.Second)
	hs.afterLoad = tok
	hs.hook = func() { e.retieAsBefore(tok, "ann") }
	if us, err := e.m.UserSessions(context.Background(), "ann"); len(us) != 0 || err != nil {
		t.Errorf("ann's list judged before the tie back = %v, %v", ids(us), err)
	}
	if !hs.fired.Load() {
		t.Fatal("the hook never ran")
	}
	e.checkListed(t, "ann")
}

// A request that loaded the session tied to ann and clears it writes the
// tie again from that view. If, while it ran, another request tied the
// session to bob and a read of ann's list dropped the old entry, the tie
// written must be listed again (fix: every write of the tie adds the entry
// first, even when this request saw it tied already). The other request
// keeps the token, as on a node of the previous release; with one of this
// release the token is renewed and the clear finds its session gone
// (TestSetUserRenewsTokenRace).
func TestUserIndexClearRace(t *testing.T) {
	mem := memstore.New()
	e := newUserEnv(t, mem, mem, DefaultConfig())
	clock := e.useClock()
	c := e.client()
	e.login(c, "ann")
	tok := e.tokenOf(c)
	app := userApp(e.m)
	e.srv.Config.Handler = e.m.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/slow-clear" {
			app.ServeHTTP(w, r)
			return
		}
		e.m.Session(r).Clear()
		e.retieAsBefore(tok, "bob") // meanwhile, on another node
		clock.advance(e.m.indexGrace() + time.Second)
		if us, _ := e.m.UserSessions(context.Background(), "ann"); len(us) != 0 {
			t.Errorf("ann's list while the session is bob's: %v", ids(us))
		}
	}))
	e.get(c, "/slow-clear")
	if _, body, _ := e.get(c, "/whoami"); !strings.HasPrefix(body, "ann ") {
		t.Fatalf("after the clear: whoami %q, want the clear's tie to ann", body)
	}
	e.checkListed(t, "ann")
}

// A deploy that lowers Lifetime must not make the index expire before a
// session stored under the old, longer one (fix: the index deadline only
// moves out). Managers with different cookie names keep separate indexes.
func TestUserIndexOutlivesItsSessions(t *testing.T) {
	mem := memstore.New()
	long := DefaultConfig()
	long.Lifetime = 30 * 24 * time.Hour
	long.IdleTimeout = -1 // the clock jumps hours: only Lifetime may end sessions here
	e := newUserEnv(t, mem, mem, long)
	clock := e.useClock()
	c := e.client()
	id := e.login(c, "ann")

	short := DefaultConfig()
	short.Lifetime = time.Hour
	short.IdleTimeout = -1
	after := newUserEnv(t, mem, mem, short)
	after.m.now = clock.now
	after.login(after.client(), "ann")

	clock.advance(2 * time.Hour)
	mem.Sweep()
	us, err := after.m.UserSessions(context.Background(), "ann")
	if err != nil || len(us) != 1 || us[0].ID != id {
		t.Errorf("after the short session expired: %v, %v; want the 30-day session %s", ids(us), err, id)
	}

	other := DefaultConfig()
	other.Cookie.Name = "admin"
	other.IdleTimeout = -1
	admin := newUserEnv(t, mem, mem, other)
	admin.m.now = clock.now
	admin.login(admin.client(), "ann")
	if n, err := admin.m.DestroyUser(context.Background(), "ann"); n != 1 || err != nil {
		t.Errorf("admin DestroyUser = %d, %v; want its own session only", n, err)
	}
	if us, _ := e.m.UserSessions(context.Background(), "ann"); len(us) != 1 {
		t.Errorf("the other cookie's session was touched: %v", ids(us))
	}
}

// SetUser alone, after the response was written, on a session never stored:
// its cookie cannot reach the client, so nothing may be stored.
func TestUserLateSetUserStoresNothing(t *testing.T) {
	mem := memstore.New()
	e := newUserEnv(t, mem, mem, DefaultConfig())
	e.srv.Config.Handler = e.m.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("x"))
		e.m.Session(r).SetUser("ann")
	}))
	e.get(e.client(), "/")
	if us, _ := e.m.UserSessions(context.Background(), "ann"); len(us) != 0 || mem.Len() != 0 {
		t.Errorf("late SetUser stored %d records, listed %d", mem.Len(), len(us))
	}
	if n := e.m.Stats().LateWrites; n != 1 {
		t.Errorf("LateWrites = %d, want 1", n)
	}
}
