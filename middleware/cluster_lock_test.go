package middleware_test

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/middleware"
)

// parallel sends n requests for path at once, request i to live replica
// i mod 3, and returns the replies in request order.
func (u *user) parallel(n int, path string) []reply {
	u.c.t.Helper()
	live := u.c.replicas()
	out := make([]reply, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { out[i], errs[i] = u.try(live[i%len(live)], path, nil) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			u.c.t.Fatalf("parallel request %d: %v", i, err)
		}
	}
	return out
}

// slowIncr adds the /incr route: a read-modify-write of "n" that takes a
// few milliseconds, so unserialized requests would overlap and lose updates.
func slowIncr(r *replica, mux *http.ServeMux) {
	mux.HandleFunc("/incr", func(w http.ResponseWriter, req *http.Request) {
		s := r.m.Session(req)
		n := s.GetInt("n")
		time.Sleep(5 * time.Millisecond) // the handler's work
		s.Put("n", n+1)
		fmt.Fprint(w, n+1)
	})
}

// wantSerialized checks that replies to n increments of a counter starting at
// from are exactly from+1 .. from+n, each once.
func wantSerialized(t *testing.T, replies []reply, from int) {
	t.Helper()
	var got []int
	for _, rep := range replies {
		if rep.code != 200 {
			t.Fatalf("increment via %s = %d %q, want 200", rep.replica, rep.code, rep.body)
		}
		n, _ := strconv.Atoi(rep.body)
		got = append(got, n)
	}
	slices.Sort(got)
	for i, n := range got {
		if n != from+1+i {
			t.Fatalf("increments returned %v, want each of %d..%d once (an update was lost)", got, from+1, from+len(got))
		}
	}
}

// TestClusterLockNoneMergesKeys: without locking, requests of one session
// that overlap on different nodes all keep the keys they changed.
func TestClusterLockNoneMergesKeys(t *testing.T) {
	const n = 6
	var arrived atomic.Int32
	all := make(chan struct{})
	c := newTestCluster(t, clusterOptions{app: func(r *replica, mux *http.ServeMux) {
		mux.HandleFunc("/put", func(w http.ResponseWriter, req *http.Request) {
			s := r.m.Session(req)
			_ = s.GetInt("n") // loaded
			if arrived.Add(1) == n {
				close(all)
			}
			select { // every request has read the session before any saves
			case <-all:
			case <-time.After(10 * time.Second):
				http.Error(w, "not all requests arrived", http.StatusInternalServerError)
				return
			}
			s.Put(req.URL.Query().Get("k"), r.name)
		})
	}})
	u := c.newUser()
	u.get("/count").want(t, "create", 200, "1")
	live := c.replicas()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			rep, err := u.try(live[i%len(live)], fmt.Sprintf("/put?k=k%d", i), nil)
			if err != nil || rep.code != 200 {
				t.Errorf("put %d = %+v, %v", i, rep, err)
			}
		})
	}
	wg.Wait()
	rec, ok, err := live[2].node.Load(t.Context(), u.token())
	if err != nil || !ok {
		t.Fatalf("Load = %v, %v", ok, err)
	}
	for i := range n {
		if _, ok := rec.Fields[fmt.Sprintf("k%d", i)]; !ok {
			t.Errorf("key k%d lost: an overlapping request on another node overwrote it", i)
		}
	}
	if _, ok := rec.Fields["n"]; !ok {
		t.Errorf("key n lost")
	}
}

func TestClusterLockExclusiveSerializes(t *testing.T) {
	c := newTestCluster(t, clusterOptions{
		cfg: func(cfg *middleware.Config) { cfg.Locking = middleware.LockExclusive },
		app: slowIncr,
	})
	u := c.newUser()
	u.get("/incr").want(t, "create", 200, "1")
	wantSerialized(t, u.parallel(20, "/incr"), 1)
	// The first request had no session to lock.
	if s := c.stats(); s.LockAcquired != 20 || s.LockTimeouts != 0 || s.Errors != 0 {
		t.Errorf("LockAcquired %d, LockTimeouts %d, Errors %d; want 20, 0, 0", s.LockAcquired, s.LockTimeouts, s.Errors)
	}
}

// TestClusterLockAuto: modifying routes stay locked; a route seen read-only
// LockAutoAfter times on a node runs unlocked there, until it modifies.
func TestClusterLockAuto(t *testing.T) {
	c := newTestCluster(t, clusterOptions{
		cfg: func(cfg *middleware.Config) {
			cfg.Locking = middleware.LockAuto
			cfg.LockAutoAfter = 3
		},
		app: func(r *replica, mux *http.ServeMux) {
			slowIncr(r, mux)
			mux.HandleFunc("/maybe", func(w http.ResponseWriter, req *http.Request) {
				if req.URL.Query().Has("write") {
					r.m.Session(req).Put("late", true)
				}
			})
		},
	})
	u := c.newUser()
	u.get("/incr").want(t, "create", 200, "1")
	wantSerialized(t, u.parallel(20, "/incr"), 1)
	before := c.stats()
	for range 12 { // four per node: three to learn, one unlocked
		u.get("/show").want(t, "show", 200, `21 "" -`)
	}
	s := c.stats()
	if got := s.LockAutoSkipped - before.LockAutoSkipped; got != 3 {
		t.Errorf("read-only requests run unlocked = %d, want 3 (one per node once learned)", got)
	}
	wantSerialized(t, u.parallel(6, "/incr"), 21) // still locked
	if got := c.stats().LockAutoSkipped; got != s.LockAutoSkipped {
		t.Errorf("a modifying route ran unlocked %d times", got-s.LockAutoSkipped)
	}
	// A learned route that starts modifying is locked again after one miss.
	r := c.replicas()[0]
	for range 3 {
		u.getFrom(r, "/maybe").want(t, "maybe", 200, "")
	}
	before = c.stats()
	u.getFrom(r, "/maybe?write=1").want(t, "maybe write", 200, "")
	u.getFrom(r, "/maybe").want(t, "maybe", 200, "")
	s = c.stats()
	if misses, locks := s.LockAutoMisses-before.LockAutoMisses, s.LockAcquired-before.LockAcquired; misses != 1 || locks != 1 {
		t.Errorf("LockAutoMisses +%d, LockAcquired +%d; want +1 (the unlocked write) and +1 (the next request locked)", misses, locks)
	}
}

// TestClusterLockPattern: only matching paths lock.
func TestClusterLockPattern(t *testing.T) {
	c := newTestCluster(t, clusterOptions{cfg: func(cfg *middleware.Config) {
		cfg.Locking = middleware.LockExclusive
		cfg.LockPattern = regexp.MustCompile(`^/cart/`)
	}})
	u := c.newUser()
	u.get("/count").want(t, "create", 200, "1")
	for _, rep := range u.parallel(20, "/cart/add?item=book") {
		if rep.code != 200 {
			t.Fatalf("add via %s = %d %q", rep.replica, rep.code, rep.body)
		}
	}
	u.get("/show").want(t, "show", 200, `1 "" book=20`)
	if s := c.stats(); s.LockAcquired != 20 || s.Errors != 0 {
		t.Errorf("LockAcquired = %d, Errors = %d; want 20 (the cart requests only), 0", s.LockAcquired, s.Errors)
	}
}

// TestClusterLockLostWithOwner: leases live at the session's owner. When it
// dies while a request holds the lock, the request locks again at the new
// owner; if another request wrote the session meanwhile, its write fails
// with ErrLeaseLost (a 503) instead of landing unserialized, and if none
// did, it commits (relock).
func TestClusterLockLostWithOwner(t *testing.T) {
	for _, other := range []bool{true, false} {
		t.Run(fmt.Sprintf("another write meanwhile=%v", other), func(t *testing.T) { testLockLostWithOwner(t, other) })
	}
}

func testLockLostWithOwner(t *testing.T, otherWrites bool) {
	entered, release := make(chan struct{}, 1), make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	c := newTestCluster(t, clusterOptions{
		cfg: func(cfg *middleware.Config) { cfg.Locking = middleware.LockExclusive },
		app: func(r *replica, mux *http.ServeMux) {
			mux.HandleFunc("/hold", func(w http.ResponseWriter, req *http.Request) {
				s := r.m.Session(req)
				n := s.GetInt("n")
				entered <- struct{}{}
				<-release
				s.Put("n", n+1)
			})
		},
	})
	t.Cleanup(unblock) // before the servers close, whatever happens
	u := c.newUser()
	u.get("/count").want(t, "create", 200, "1")
	owner := c.withRole(u.token(), "owner")
	server := c.withRole(u.token(), "replica") // becomes the owner
	held := make(chan reply, 1)
	go func() {
		rep, err := u.try(server, "/hold", nil)
		if err != nil {
			t.Errorf("/hold: %v", err)
		}
		held <- rep
	}()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("/hold did not reach its handler")
	}
	c.crash(owner)
	c.WaitConverged()
	if otherWrites {
		// The new owner holds no lease: another request locks and writes.
		u.getFrom(server, "/count").want(t, "count meanwhile", 200, "2")
	}
	unblock()
	rep := <-held
	if otherWrites {
		if rep.code != http.StatusServiceUnavailable {
			t.Errorf("write under a lease lost with its owner, session written meanwhile = %d %q, want 503", rep.code, rep.body)
		}
		u.getFrom(server, "/show").want(t, "show", 200, `2 "" -`) // only the other write's
		u.getFrom(server, "/count").want(t, "count", 200, "3")
		return
	}
	if rep.code != http.StatusOK {
		t.Errorf("write under a lease lost with its owner, session unchanged = %d %q, want 200 (relocked)", rep.code, rep.body)
	}
	u.getFrom(server, "/show").want(t, "show", 200, `2 "" -`) // the held write's
	u.getFrom(server, "/count").want(t, "count", 200, "3")
}
