package middleware_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/e5b1d45c/sessring/middleware"
)

// userRoutes adds sign-in with a user tie and log-out-everywhere.
func userRoutes(r *replica, mux *http.ServeMux) {
	m := r.m
	mux.HandleFunc("/signin", func(w http.ResponseWriter, req *http.Request) {
		s := m.Session(req)
		if err := s.RenewToken(req.Context()); err != nil {
			http.Error(w, err.Error(), middleware.StatusFor(err))
			return
		}
		if err := s.SetUser(req.URL.Query().Get("user")); err != nil {
			http.Error(w, err.Error(), middleware.StatusFor(err))
			return
		}
		s.Put("user", req.URL.Query().Get("user"))
		fmt.Fprint(w, "welcome")
	})
	mux.HandleFunc("/everywhere", func(w http.ResponseWriter, req *http.Request) {
		s := m.Session(req)
		n, err := m.DestroyUser(req.Context(), s.User())
		if err != nil {
			http.Error(w, err.Error(), middleware.StatusFor(err))
			return
		}
		fmt.Fprint(w, n)
	})
}

// TestClusterLogOutEverywhere: one account signs in from six browsers at
// once, each through a different replica, so the index entries of one user
// are written concurrently from three nodes; all six are listed (none
// overwrote another), and logging out everywhere from one replica ends every
// one of them on every node, leaving another account signed in.
func TestClusterLogOutEverywhere(t *testing.T) {
	c := newTestCluster(t, clusterOptions{app: userRoutes})
	reps := c.replicas()
	browsers := make([]*user, 6)
	var wg sync.WaitGroup
	for i := range browsers {
		browsers[i] = c.newUser()
		wg.Go(func() {
			rep, err := browsers[i].try(reps[i%len(reps)], "/signin?user=ann", nil)
			if err != nil || rep.code != 200 {
				t.Errorf("browser %d sign-in: %+v, %v", i, rep, err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	bob := c.newUser()
	bob.get("/signin?user=bob").want(t, "bob signs in", 200, "welcome")

	for _, r := range reps {
		us, err := r.m.UserSessions(t.Context(), "ann")
		if err != nil || len(us) != len(browsers) {
			t.Fatalf("UserSessions(ann) via %s = %d sessions, %v; want %d", r.name, len(us), err, len(browsers))
		}
	}
	tokens := make([]string, len(browsers))
	for i, b := range browsers {
		tokens[i] = b.token()
	}

	browsers[0].getFrom(reps[1], "/everywhere").want(t, "log out everywhere", 200, fmt.Sprint(len(browsers)))
	for i, tok := range tokens {
		for name, ok := range c.loadEverywhere(tok) {
			if ok {
				t.Errorf("browser %d's session still loads via %s", i, name)
			}
		}
		browsers[i].getFrom(reps[i%len(reps)], "/show").want(t, fmt.Sprintf("browser %d after log-out", i), 200, `0 "" -`)
	}
	bob.get("/show").want(t, "bob after ann logged out everywhere", 200, `0 "bob" -`)
	if us, err := reps[2].m.UserSessions(t.Context(), "ann"); err != nil || len(us) != 0 {
		t.Errorf("UserSessions(ann) after log-out = %v, %v", us, err)
	}
}
