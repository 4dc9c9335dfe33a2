package store

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"testing"

	"github.com/alexedwards/scs/v2"
)

// The scs interfaces are satisfied without importing scs in the store.
var (
	_ scs.Store    = (*Node)(nil)
	_ scs.CtxStore = (*Node)(nil)
)

// TestSCSSessionManager runs alexedwards/scs on a 3-node cluster: a client
// whose requests go round-robin to three app servers keeps one session.
func TestSCSSessionManager(t *testing.T) {
	c := newTestCluster(t, 3)
	var urls []string
	for _, n := range c.live() {
		sm := scs.New()
		sm.Store = n
		name := n.Name()
		mux := http.NewServeMux()
		mux.HandleFunc("/incr", func(w http.ResponseWriter, r *http.Request) {
			count := sm.GetInt(r.Context(), "count") + 1
			sm.Put(r.Context(), "count", count)
			fmt.Fprintf(w, "%d %s", count, name)
		})
		srv := httptest.NewServer(sm.LoadAndSave(mux))
		t.Cleanup(srv.Close)
		urls = append(urls, srv.URL)
	}
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar}
	for i := 1; i <= 9; i++ {
		u := urls[i%len(urls)]
		resp, err := client.Get(u + "/incr")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		// Each server has its own cookie host (port), so share the cookie.
		for _, other := range urls {
			ou, _ := resp.Request.URL.Parse(other)
			jar.SetCookies(ou, resp.Cookies())
		}
		var got int
		var served string
		fmt.Sscanf(string(body), "%d %s", &got, &served)
		if got != i {
			t.Fatalf("request %d served by %s: count = %d, want %d", i, served, got, i)
		}
	}
}
