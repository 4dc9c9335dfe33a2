package middleware_test

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/internal/testkit"
	"github.com/e5b1d45c/sessring/middleware"
	"github.com/e5b1d45c/sessring/store"
)

// TestClusterNodeCrashBetweenRequests is memcached-session-manager's seed
// scenario: the node that served a user dies, and the user's next request
// lands on another one. The token stays the same and nothing acknowledged is
// lost, whichever role the dead node had for the session.
func TestClusterNodeCrashBetweenRequests(t *testing.T) {
	for _, role := range []string{"owner", "replica", "neither"} {
		t.Run("crash "+role, func(t *testing.T) {
			c := newTestCluster(t, clusterOptions{})
			u := c.newUser()
			u.get("/login?user=ann").want(t, "login", 200, "welcome")
			u.get("/cart/add?item=book").want(t, "add", 200, "book=1")
			u.get("/cart/add?item=book").want(t, "add", 200, "book=2")
			tok := u.token()
			victim := c.withRole(tok, role)
			u.getFrom(victim, "/count").want(t, "count on the victim", 200, "1")

			c.crash(victim)
			start := time.Now()
			rep := u.get("/count") // during failure detection
			took := time.Since(start)
			rep.want(t, "first request after the crash", 200, "2")
			t.Logf("first request after crashing the %s took %v", role, took)
			if (rep.cookie != nil && rep.cookie.Value != tok) || u.token() != tok { // a cookie may carry a new idle deadline
				t.Errorf("token changed (Set-Cookie %v): want the session kept under its token", rep.cookie)
			}
			for _, r := range c.replicas() {
				u.getFrom(r, "/show").want(t, "show after the crash", 200, `2 "ann" book=2`)
			}
			c.WaitConverged() // the two survivors re-replicate
			for i, r := range c.replicas() {
				u.getFrom(r, "/count").want(t, "count after convergence", 200, strconv.Itoa(3+i))
			}
			if s := c.stats(); s.Errors != 0 || s.Created != 1 {
				t.Errorf("Errors = %d, Created = %d; want 0, 1", s.Errors, s.Created)
			}
		})
	}
}

// withRole returns the replica that is tok's owner, its replica, or neither.
func (c *testCluster) withRole(tok, role string) *replica {
	c.t.Helper()
	owner, repl := c.replicas()[0].node.Locate(tok)
	for _, r := range c.replicas() {
		switch {
		case role == "owner" && r.name == owner,
			role == "replica" && r.name == repl,
			role == "neither" && r.name != owner && r.name != repl:
			return r
		}
	}
	c.t.Fatalf("no %s for the session (owner %s, replica %s)", role, owner, repl)
	return nil
}

// TestClusterCrashUnderTraffic kills a node while users keep incrementing
// their counters through every replica. Requests served by the survivors
// all succeed (they wait out failure detection) and no acknowledged
// increment is lost.
func TestClusterCrashUnderTraffic(t *testing.T) {
	c := newTestCluster(t, clusterOptions{})
	const users = 6
	stop := make(chan struct{})
	acked := make([]int, users)
	us := make([]*user, users)
	var wg sync.WaitGroup
	for i := range users {
		u := c.newUser()
		us[i] = u
		wg.Go(func() {
			for j := 0; ; j++ {
				select {
				case <-stop:
					return
				default:
				}
				live := c.replicas()
				r := live[(i+j)%len(live)]
				rep, err := u.try(r, "/count", nil)
				switch {
				case err != nil || rep.code == http.StatusServiceUnavailable:
					// The crashed replica's own in-flight requests: not acknowledged.
				case rep.code != 200:
					t.Errorf("user %d via %s = %d %q", i, rep.replica, rep.code, rep.body)
					return
				default:
					n, _ := strconv.Atoi(rep.body)
					if n <= acked[i] {
						t.Errorf("user %d via %s: count %d after %d was acknowledged (an update was lost)", i, rep.replica, n, acked[i])
						return
					}
					acked[i] = n
				}
			}
		})
	}
	testkit.Eventually(t, 10*time.Second, "traffic", func() bool { return c.stats().Created == users })
	c.crash(c.replicas()[1])
	crashedAt := c.stats().Requests
	testkit.Eventually(t, 20*time.Second, "traffic after the crash", func() bool { return c.stats().Requests > crashedAt+100 })
	close(stop)
	wg.Wait()
	survivors := c.replicas()
	for i, u := range us {
		if acked[i] < 2 {
			t.Errorf("user %d: only %d increments acknowledged", i, acked[i])
		}
		rep := u.getFrom(survivors[i%len(survivors)], "/show")
		if n, _ := strconv.Atoi(strings.Fields(rep.body)[0]); rep.code != 200 || n < acked[i] {
			t.Errorf("user %d: /show = %d %q after %d increments were acknowledged", i, rep.code, rep.body, acked[i])
		}
	}
	for _, r := range survivors {
		if s := r.m.Stats(); s.Errors != 0 {
			t.Errorf("%s answered %d requests with an error, want none", r.name, s.Errors)
		}
	}
}

// TestClusterUntrustedCookies: cookies the cluster did not mint for a live
// session never yield a session, never fail a request and are replaced by
// a fresh token on the first write.
func TestClusterUntrustedCookies(t *testing.T) {
	c := newTestCluster(t, clusterOptions{})
	n0 := c.replicas()[0].node
	scsToken, scsValue := "scs-session-token-0123456789", []byte("scs gob blob")
	if err := n0.Commit(scsToken, scsValue, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	victim := c.newUser()
	victim.get("/count").want(t, "victim", 200, "1")
	destroyed := victim.token()
	victim.get("/logout").want(t, "logout", 200, "bye")
	tests := []struct {
		name       string
		value      string
		wantLoad   bool // the token is well-formed, so the store is asked
		wantExpire bool // the response expires the cookie
	}{
		{"empty", "", false, false},
		{"bad characters", "abc$%^.x", false, false},
		{"oversized", strings.Repeat("A", store.MaxTokenLen+1), false, false},
		{"forged", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", true, true},
		{"destroyed", destroyed, true, true},
		{"scs session", scsToken, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			client := c.newUser()
			hdr := http.Header{"Cookie": {"sessring=" + tc.value}}
			for _, r := range c.replicas() { // no 500 loop: every request is fine
				reads, _ := c.storeOps()
				rep, err := client.try(r, "/show", hdr)
				if err != nil {
					t.Fatal(err)
				}
				rep.want(t, "show", 200, `0 "" -`)
				if r2, _ := c.storeOps(); (r2 > reads) != tc.wantLoad {
					t.Errorf("via %s: store reads +%d, want a load: %v", r.name, r2-reads, tc.wantLoad)
				}
				if expired := rep.cookie != nil && rep.cookie.MaxAge < 0; expired != tc.wantExpire || (!expired && rep.cookie != nil) {
					t.Errorf("via %s: Set-Cookie %v, want expired: %v", r.name, rep.cookie, tc.wantExpire)
				}
			}
			rep, err := client.try(c.replicas()[1], "/count", hdr)
			if err != nil {
				t.Fatal(err)
			}
			rep.want(t, "first write", 200, "1")
			if rep.cookie == nil || rep.cookie.Value == tc.value || middleware.ValidateToken(rep.cookie.Value) != nil {
				t.Errorf("first write: Set-Cookie %v, want a fresh token", rep.cookie)
			}
		})
	}
	if got, ok, err := n0.Find(scsToken); err != nil || !ok || string(got) != string(scsValue) {
		t.Errorf("scs session = %q, %v, %v; want it untouched", got, ok, err)
	}
	if s := c.stats(); s.Errors != 0 {
		t.Errorf("Errors = %d, want 0", s.Errors)
	}
}

// TestClusterStickyTokens: with Sticky, each replica mints tokens it owns,
// so a load balancer that pins the user to that replica serves every
// request without a network hop.
func TestClusterStickyTokens(t *testing.T) {
	c := newTestCluster(t, clusterOptions{cfg: func(cfg *middleware.Config) { cfg.Sticky = true }})
	for _, r := range c.replicas() {
		var users []*user
		for range 5 {
			u := c.newUser()
			u.getFrom(r, "/count").want(t, "create", 200, "1")
			for _, other := range c.replicas() {
				if owner, _ := other.node.Locate(u.token()); owner != r.name {
					t.Errorf("token minted by %s is owned by %s (as %s sees it)", r.name, owner, other.name)
				}
			}
			users = append(users, u)
		}
		before := r.node.Stats().Forwarded
		for _, u := range users {
			u.getFrom(r, "/count").want(t, "pinned write", 200, "2")
			u.getFrom(r, "/show").want(t, "pinned read", 200, `2 "" -`)
		}
		if hops := r.node.Stats().Forwarded - before; hops != 0 {
			t.Errorf("%s forwarded %d calls for its own sticky users, want 0", r.name, hops)
		}
	}
	// Without stickiness in the balancer, the sessions still work anywhere.
	u := c.newUser()
	for i := 1; i <= 6; i++ {
		u.get("/count").want(t, "round-robin", 200, strconv.Itoa(i))
	}
}
