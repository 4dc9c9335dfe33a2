package middleware

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/middleware/internal/memstore"
	"github.com/e5b1d45c/sessring/store"
)

// overlap runs n requests with the same session token and holds each
// handler at a barrier until all n have loaded, so none saves before every
// one has read.
func overlap(t *testing.T, e *env, tok string, n int, work func(i int, s *Session)) {
	t.Helper()
	var arrived sync.WaitGroup
	arrived.Add(n)
	release := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			e.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				s := e.m.Session(r)
				s.Exists("x") // load everything this request will see
				arrived.Done()
				<-release
				work(i, s)
			}), withToken("POST", "/", tok))
		})
	}
	arrived.Wait()
	close(release)
	wg.Wait()
}

func TestConcurrentDifferentKeysMerge(t *testing.T) {
	e := newEnv(t, Config{}, nil)
	tok := e.seed(map[string]any{"cart": "book"})
	keys := []string{"cart", "theme", "lang", "last"}
	overlap(t, e, tok, len(keys), func(i int, s *Session) { s.Put(keys[i], i) })
	for i, k := range keys {
		if v, _ := e.stored(tok, k); v != i {
			t.Errorf("stored %s = %v, want %d (an overlapping request lost it)", k, v, i)
		}
	}
}

func TestSameKeyWithoutLockLastWriteWins(t *testing.T) {
	e := newEnv(t, Config{}, nil)
	tok := e.seed(map[string]any{"n": 0})
	overlap(t, e, tok, 2, func(_ int, s *Session) { s.Put("n", s.GetInt("n")+1) })
	if v, _ := e.stored(tok, "n"); v != 1 {
		t.Errorf("n = %v, want 1: LockNone is documented as last-write-wins per key", v)
	}
}

func TestLockExclusiveSerializes(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Locking = LockExclusive
	e := newEnv(t, cfg, nil)
	tok := e.seed(map[string]any{"n": 0})
	const n = 20
	var inside, maxInside atomic.Int32
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			e.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				cur := inside.Add(1)
				if cur > maxInside.Load() {
					maxInside.Store(cur)
				}
				s := e.m.Session(r)
				s.Put("n", s.GetInt("n")+1)
				time.Sleep(time.Millisecond)
				inside.Add(-1)
			}), withToken("POST", "/", tok))
		})
	}
	wg.Wait()
	if v, _ := e.stored(tok, "n"); v != n {
		t.Errorf("n = %v, want %d", v, n)
	}
	if maxInside.Load() != 1 {
		t.Errorf("handlers of one session ran %d at once, want 1", maxInside.Load())
	}
	if got := e.m.Stats().LockAcquired; got != n {
		t.Errorf("LockAcquired = %d, want %d", got, n)
	}
}

func TestLockTimeoutNeverProceedsUnlocked(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(e *env, tok string)
		status int
		is     []error
	}{
		{"held by another request", func(e *env, tok string) {
			if _, err := e.st.Lock(context.Background(), tok, time.Minute); err != nil {
				t.Fatal(err)
			}
		}, 503, []error{ErrLockTimeout, store.ErrLocked}},
		{"store unavailable", func(e *env, tok string) {
			e.st.Fail(memstore.OpLock, store.ErrUnavailable)
		}, 503, []error{store.ErrUnavailable}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Locking = LockExclusive
			cfg.LockWait = 30 * time.Millisecond
			var gotErr error
			cfg.ErrorFunc = func(w http.ResponseWriter, r *http.Request, err error) {
				gotErr = err
				w.WriteHeader(StatusFor(err))
			}
			e := newEnv(t, cfg, nil)
			tok := e.seed(map[string]any{"a": 1})
			tc.setup(e, tok)
			called := false
			rec := e.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { called = true }),
				withToken("GET", "/", tok))
			if called || rec.Code != tc.status {
				t.Errorf("handler called = %v, status %d; want not called, %d", called, rec.Code, tc.status)
			}
			for _, want := range tc.is {
				if !errors.Is(gotErr, want) {
					t.Errorf("error %v does not wrap %v", gotErr, want)
				}
			}
		})
	}
}

func TestLeaseLostFailsTheWrite(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Locking = LockExclusive
	cfg.LockTTL = time.Second
	e := newEnv(t, cfg, nil)
	clock := e.useClock()
	tok := e.seed(map[string]any{"a": 1})
	rec := e.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		clock.advance(2 * time.Second) // the handler outlived LockTTL...
		if _, err := e.st.Lock(r.Context(), tok, time.Minute); err != nil {
			t.Errorf("competitor Lock: %v", err) // ...and another request took the lock
		}
		e.m.Session(r).Put("a", 2)
	}), withToken("POST", "/", tok))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("status = %d, want 503 for a lost lease", rec.Code)
	}
	if v, _ := e.stored(tok, "a"); v != 1 {
		t.Errorf("stored a = %v, want 1: a write without the lease must not land", v)
	}
}

func TestLockReleasedAfterPanic(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Locking = LockExclusive
	e := newEnv(t, cfg, nil)
	tok := e.seed(map[string]any{"a": 1})
	func() {
		defer func() { _ = recover() }()
		e.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { panic("boom") }),
			withToken("GET", "/", tok))
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := e.st.Lock(ctx, tok, time.Second); err != nil {
		t.Errorf("lock still held after a panicking handler: %v", err)
	}
}

func TestLockAutoLearnsReadOnlyRoutes(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Locking = LockAuto
	cfg.LockAutoAfter = 3
	e := newEnv(t, cfg, nil)
	tok := e.seed(map[string]any{"n": 0})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := e.m.Session(r)
		if r.Method == http.MethodPost || r.URL.Query().Get("write") != "" {
			s.Put("n", s.GetInt("n")+1)
		}
		_ = s.GetInt("n")
	})
	locks := func() int { return e.st.Calls(memstore.OpLock) }
	steps := []struct {
		method, target string
		wantLock       bool
	}{
		{"GET", "/items/1", true}, {"GET", "/items/2", true}, {"GET", "/items/3", true},
		{"GET", "/items/4", false}, {"GET", "/items/5", false}, // learned: /items/* is read-only
		{"POST", "/items/6", true}, {"POST", "/items/7", true}, // other method, other route
		{"GET", "/items/8?write=1", false}, // wrong guess: runs unlocked, observed
		{"GET", "/items/9", true},          // relearning
	}
	for i, st := range steps {
		before := locks()
		e.serve(h, withToken(st.method, st.target, tok))
		if got := locks() > before; got != st.wantLock {
			t.Errorf("step %d %s %s: locked = %v, want %v", i, st.method, st.target, got, st.wantLock)
		}
	}
	stats := e.m.Stats()
	if stats.LockAutoSkipped != 3 || stats.LockAutoMisses != 1 {
		t.Errorf("LockAutoSkipped/Misses = %d/%d, want 3/1", stats.LockAutoSkipped, stats.LockAutoMisses)
	}
}

func TestLockPatternRestrictsLocking(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Locking = LockExclusive
	cfg.LockPattern = regexp.MustCompile(`^/checkout`)
	e := newEnv(t, cfg, nil)
	tok := e.seed(map[string]any{"n": 0})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	for _, tc := range []struct {
		path string
		lock bool
	}{{"/checkout/pay", true}, {"/browse", false}} {
		before := e.st.Calls(memstore.OpLock)
		e.serve(h, withToken("GET", tc.path, tok))
		if got := e.st.Calls(memstore.OpLock) > before; got != tc.lock {
			t.Errorf("%s: locked = %v, want %v", tc.path, got, tc.lock)
		}
	}
}

func TestRouteKey(t *testing.T) {
	tests := []struct {
		method, target, pattern, want string
	}{
		{"GET", "/", "", "GET /"},
		{"GET", "/cart/17", "", "GET /cart/*"},
		{"POST", "/u/3fa85f64-5717-4562-b3fc-2c963f66afa6/edit", "", "POST /u/*/edit"},
		{"GET", "/a/b/", "", "GET /a/b/"},
		{"GET", "/very-long-segment-without-digits-xx/x", "", "GET /*/x"},
		{"GET", "/cart/17", "GET /cart/{id}", "GET GET /cart/{id}"},
	}
	for _, tc := range tests {
		r, _ := http.NewRequest(tc.method, tc.target, nil)
		r.Pattern = tc.pattern
		if got := routeKey(r); got != tc.want {
			t.Errorf("routeKey(%s %s, pattern %q) = %q, want %q", tc.method, tc.target, tc.pattern, got, tc.want)
		}
	}
}

// TestLockAutoKeepsWritesLocked: whatever LockAuto saw before on a route
// (requests that only read, or that failed), a one-time coupon redeemed by
// two concurrent requests of one session is redeemed once: the redeeming
// requests run locked. On the old learner, the ten earlier requests made
// the route "read-only" and both redemptions ran unlocked.
func TestLockAutoKeepsWritesLocked(t *testing.T) {
	for _, tc := range []struct {
		name       string
		before     string // request sent ten times first: "METHOD target"
		wantStatus int
		redeem     string // the two concurrent redemptions
	}{
		{"ten GETs that only read", "GET /coupon", 200, "POST /coupon?claim=1"},
		{"ten POSTs answered 400", "POST /coupon?code=bad", 400, "POST /coupon?claim=1"},
		{"ten POSTs that only read", "POST /coupon?preview=1", 200, "POST /coupon?claim=1"},
		{"ten GETs answered 400", "GET /coupon?code=bad", 400, "GET /coupon?claim=1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Locking = LockAuto
			e := newEnv(t, cfg, nil)
			tok := e.seed(map[string]any{"cart": "book"})
			var inside, redeemed atomic.Int32
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				s := e.m.Session(r)
				q := r.URL.Query()
				switch {
				case q.Get("code") == "bad":
					http.Error(w, "unknown coupon", http.StatusBadRequest)
					return
				case !q.Has("claim"):
					fmt.Fprint(w, s.GetBool("redeemed"))
					return
				}
				if s.GetBool("redeemed") {
					http.Error(w, "already redeemed", http.StatusConflict)
					return
				}
				// Give a concurrent redemption the time to get here too: an
				// unlocked one arrives at once, a locked one cannot.
				inside.Add(1)
				pollUntil(300*time.Millisecond, func() bool { return inside.Load() >= 2 })
				s.Put("redeemed", true)
				redeemed.Add(1)
			})
			method, target, _ := strings.Cut(tc.before, " ")
			for i := range 10 {
				if got := e.serve(h, withToken(method, target, tok)).Code; got != tc.wantStatus {
					t.Fatalf("request %d %s = %d, want %d", i, tc.before, got, tc.wantStatus)
				}
			}
			method, target, _ = strings.Cut(tc.redeem, " ")
			codes := make([]int, 2)
			var wg sync.WaitGroup
			for i := range codes {
				wg.Go(func() { codes[i] = e.serve(h, withToken(method, target, tok)).Code })
			}
			wg.Wait()
			slices.Sort(codes)
			if n := redeemed.Load(); n != 1 || !slices.Equal(codes, []int{200, 409}) {
				t.Errorf("two concurrent %s: redeemed %d times, statuses %v; want once, [200 409]", tc.redeem, n, codes)
			}
		})
	}
}

// pollUntil polls cond every millisecond until it holds or d has passed,
// and reports whether it held.
func pollUntil(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

// TestLockAutoTrustExpires: a route LockAuto learned is trusted for
// learnTTL only, then it is locked until it proves itself again; failed
// answers do not count towards the proof.
func TestLockAutoTrustExpires(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Locking = LockAuto
	cfg.LockAutoAfter = 2
	e := newEnv(t, cfg, nil)
	clock := e.useClock()
	tok := e.seed(map[string]any{"n": 0})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("fail") {
			http.Error(w, "no", http.StatusNotFound)
			return
		}
		_ = e.m.Session(r).GetInt("n")
	})
	steps := []struct {
		target   string
		advance  time.Duration // before the request
		wantLock bool
	}{
		{"/page", 0, true}, {"/page", 0, true},
		{"/page", 0, false}, // learned
		{"/page", learnTTL - time.Second, false},
		{"/page", time.Second, true}, // the trust ran out
		{"/page", 0, true},
		{"/page", 0, false}, // learned again
		{"/other?fail=1", 0, true}, {"/other?fail=1", 0, true}, {"/other?fail=1", 0, true},
		{"/other", 0, true}, {"/other", 0, true}, // failures proved nothing
		{"/other", 0, false},
	}
	for i, st := range steps {
		clock.advance(st.advance)
		before := e.st.Calls(memstore.OpLock)
		e.serve(h, withToken("GET", st.target, tok))
		if got := e.st.Calls(memstore.OpLock) > before; got != st.wantLock {
			t.Errorf("step %d GET %s (+%v): locked = %v, want %v", i, st.target, st.advance, got, st.wantLock)
		}
	}
}
