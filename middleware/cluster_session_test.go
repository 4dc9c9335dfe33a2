package middleware_test

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/internal/testkit"
	"github.com/e5b1d45c/sessring/middleware"
)

func TestClusterSessionFollowsTheUser(t *testing.T) {
	c := newTestCluster(t, clusterOptions{})
	u := c.newUser()
	served := map[string]int{}
	for i := 1; i <= 9; i++ {
		rep := u.get("/count")
		rep.want(t, fmt.Sprintf("request %d", i), 200, strconv.Itoa(i))
		served[rep.replica]++
	}
	for i := 1; i <= 3; i++ {
		u.get("/cart/add?item=book").want(t, "add book", 200, fmt.Sprintf("book=%d", i))
	}
	if len(served) != 3 {
		t.Errorf("requests served by %v, want all three replicas", served)
	}
	for _, r := range c.replicas() {
		u.getFrom(r, "/show").want(t, "show", 200, `9 "" book=3`)
	}
	if s := c.stats(); s.Created != 1 || s.Errors != 0 {
		t.Errorf("cluster Created = %d, Errors = %d; want 1, 0", s.Created, s.Errors)
	}
}

// TestClusterLoginRenewsToken: RenewToken on login moves the session to a
// new token, and the old one is gone on every node, so a fixated token
// leads nowhere.
func TestClusterLoginRenewsToken(t *testing.T) {
	var renewed atomic.Int32
	c := newTestCluster(t, clusterOptions{cfg: func(cfg *middleware.Config) {
		cfg.OnRenew = func(string, string) { renewed.Add(1) }
	}})
	u := c.newUser()
	u.get("/cart/add?item=book").want(t, "add", 200, "book=1")
	old := u.token()
	login := u.get("/login?user=ann")
	login.want(t, "login", 200, "welcome")
	tok := u.token()
	if tok == "" || tok == old || login.cookie == nil || login.cookie.Value != tok {
		t.Fatalf("after login token %q (before %q), Set-Cookie %v: want a new token", tok, old, login.cookie)
	}
	for name, ok := range c.loadEverywhere(old) {
		if ok {
			t.Errorf("old token still loads via %s", name)
		}
	}
	for name, ok := range c.loadEverywhere(tok) {
		if !ok {
			t.Errorf("new token missing via %s", name)
		}
	}
	for _, r := range c.replicas() {
		u.getFrom(r, "/show").want(t, "show after login", 200, `0 "ann" book=1`)
		attacker := c.newUser() // holds the token it fixated before the login
		rep, err := attacker.try(r, "/show", http.Header{"Cookie": {"sessring=" + old}})
		if err != nil {
			t.Fatal(err)
		}
		rep.want(t, "old token", 200, `0 "" -`)
		if rep.cookie == nil || rep.cookie.MaxAge >= 0 {
			t.Errorf("old token via %s: Set-Cookie %v, want it expired", r.name, rep.cookie)
		}
	}
	if n := renewed.Load(); n != 1 {
		t.Errorf("OnRenew fired %d times, want 1", n)
	}
}

func TestClusterLogoutDestroys(t *testing.T) {
	var destroyed atomic.Int32
	c := newTestCluster(t, clusterOptions{cfg: func(cfg *middleware.Config) {
		cfg.OnDestroy = func(string) { destroyed.Add(1) }
	}})
	u := c.newUser()
	u.get("/login?user=ann").want(t, "login", 200, "welcome")
	u.get("/cart/add?item=pen").want(t, "add", 200, "pen=1")
	tok := u.token()
	out := u.get("/logout")
	out.want(t, "logout", 200, "bye")
	if out.cookie == nil || out.cookie.MaxAge >= 0 {
		t.Errorf("logout Set-Cookie %v, want it expired", out.cookie)
	}
	if u.token() != "" {
		t.Errorf("browser still holds a session cookie after logout")
	}
	for name, ok := range c.loadEverywhere(tok) {
		if ok {
			t.Errorf("destroyed session still loads via %s", name)
		}
	}
	for _, r := range c.replicas() {
		u.getFrom(r, "/show").want(t, "show after logout", 200, `0 "" -`)
	}
	if n := destroyed.Load(); n != 1 {
		t.Errorf("OnDestroy fired %d times, want 1", n)
	}
}

// expiries counts OnExpire calls per token, over the whole cluster.
type expiries struct {
	mu sync.Mutex
	n  map[string]int
}

func (e *expiries) record(tok string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.n == nil {
		e.n = map[string]int{}
	}
	e.n[tok]++
}

func (e *expiries) count(tok string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.n[tok]
}

// waitExpired waits for OnExpire(tok), then for a session created after it
// to expire too, so that many sweeps ran on every node after the first
// call: a duplicate would have fired by then.
func (e *expiries) waitExpired(t *testing.T, c *testCluster, tok string) {
	t.Helper()
	testkit.Eventually(t, 10*time.Second, "OnExpire of the session", func() bool { return e.count(tok) > 0 })
	canary := c.newUser()
	canary.get("/count").want(t, "canary", 200, "1")
	ctok := canary.token()
	testkit.Eventually(t, 10*time.Second, "OnExpire of the canary", func() bool { return e.count(ctok) > 0 })
	if n := e.count(tok); n != 1 {
		t.Errorf("OnExpire fired %d times across the cluster, want once", n)
	}
}

func TestClusterExpiry(t *testing.T) {
	t.Run("idle", func(t *testing.T) {
		var exp expiries
		const idle = 1500 * time.Millisecond
		c := newTestCluster(t, clusterOptions{cfg: func(cfg *middleware.Config) {
			cfg.IdleTimeout = idle
			cfg.OnExpire = exp.record
		}})
		u := c.newUser()
		u.get("/count").want(t, "first", 200, "1")
		tok := u.token()
		// Read-only requests for longer than the idle timeout: their
		// touches keep the session alive on every node.
		tick := time.NewTicker(idle / 5)
		defer tick.Stop()
		for range 8 {
			<-tick.C
			u.get("/show").want(t, "active", 200, `1 "" -`)
		}
		tick.Stop()
		if exp.count(tok) != 0 {
			t.Fatalf("session expired although requests kept touching it")
		}
		exp.waitExpired(t, c, tok)
		u.get("/show").want(t, "after idle expiry", 200, `0 "" -`)
		// The browser dropped the cookie itself (it mirrors the deadline);
		// one that kept it anyway is told to drop it.
		rep, err := c.newUser().try(c.replicas()[0], "/show", http.Header{"Cookie": {"sessring=" + tok}})
		if err != nil {
			t.Fatal(err)
		}
		rep.want(t, "expired token", 200, `0 "" -`)
		if rep.cookie == nil || rep.cookie.MaxAge >= 0 {
			t.Errorf("Set-Cookie %v for the expired token, want the cookie expired", rep.cookie)
		}
	})
	t.Run("absolute", func(t *testing.T) {
		var exp expiries
		const lifetime = time.Second
		c := newTestCluster(t, clusterOptions{cfg: func(cfg *middleware.Config) {
			cfg.Lifetime = lifetime
			cfg.OnExpire = exp.record
		}})
		u := c.newUser()
		start := time.Now()
		u.get("/count").want(t, "first", 200, "1")
		tok := u.token()
		// Activity does not extend an absolute lifetime: the count
		// restarts in a new session once it is over.
		var n int
		testkit.Eventually(t, 10*time.Second, "a new session", func() bool {
			rep := u.get("/count")
			n++
			return rep.body == "1"
		})
		if age := time.Since(start); age < lifetime || n < 2 {
			t.Errorf("session replaced after %v and %d requests, want it to live %v", age, n, lifetime)
		}
		if u.token() == tok {
			t.Errorf("the new session reuses the expired token")
		}
		exp.waitExpired(t, c, tok)
	})
}

func TestClusterIgnorePattern(t *testing.T) {
	c := newTestCluster(t, clusterOptions{cfg: func(cfg *middleware.Config) {
		cfg.IgnorePattern = regexp.MustCompile(`^/static/`)
	}})
	u := c.newUser()
	u.get("/count").want(t, "count", 200, "1")
	before := c.stats()
	reads, writes := c.storeOps()
	for range 9 {
		rep := u.get("/static/app.css")
		rep.want(t, "static", 200, "static")
		if rep.cookie != nil {
			t.Errorf("static response sets %v, want no cookie", rep.cookie)
		}
	}
	after := c.stats()
	if r, w := c.storeOps(); r != reads || w != writes {
		t.Errorf("static requests cost %d store reads and %d writes, want none", r-reads, w-writes)
	}
	if after.Ignored-before.Ignored != 9 || after.Requests != before.Requests {
		t.Errorf("Ignored +%d, Requests +%d; want +9, +0", after.Ignored-before.Ignored, after.Requests-before.Requests)
	}
	u.get("/count").want(t, "count after static", 200, "2")
}

// TestClusterConcurrentUsers runs users in parallel, each sending its
// requests round-robin: no session sees another's data or loses an update.
func TestClusterConcurrentUsers(t *testing.T) {
	c := newTestCluster(t, clusterOptions{})
	const users, requests = 8, 12
	var wg sync.WaitGroup
	for i := range users {
		u := c.newUser()
		wg.Go(func() {
			item := fmt.Sprintf("item%d", i)
			for j := 1; j <= requests; j++ {
				live := c.replicas()
				rep, err := u.try(live[(i+j)%len(live)], "/cart/add?item="+item, nil)
				if err != nil || rep.code != 200 || rep.body != fmt.Sprintf("%s=%d", item, j) {
					t.Errorf("user %d request %d = %+v, %v; want 200 %s=%d", i, j, rep, err, item, j)
					return
				}
			}
		})
	}
	wg.Wait()
	if s := c.stats(); s.Created != users || s.Errors != 0 {
		t.Errorf("Created = %d, Errors = %d; want %d, 0", s.Created, s.Errors, users)
	}
}
