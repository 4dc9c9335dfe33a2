package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

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

// TestSCSMalformedToken: whatever cookie a client sends, scs's Find and
// Delete treat a malformed token as a missing session (its Store contract),
// so LoadAndSave answers normally; Commit, which only sees tokens the
// application minted, refuses one.
func TestSCSMalformedToken(t *testing.T) {
	c := newTestCluster(t, 1)
	n := c.live()[0]
	ctx := context.Background()
	for _, tc := range []struct {
		name, token string
	}{
		{"empty", ""},
		{"one over MaxTokenLen", strings.Repeat("a", MaxTokenLen+1)},
		{"300 bytes", strings.Repeat("b", 300)},
		{"space", "tok en"},
		{"internal record key", "~user.abc"},
		{"dot", "a.b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for name, find := range map[string]func(string) ([]byte, bool, error){
				"Find":    n.Find,
				"FindCtx": func(tok string) ([]byte, bool, error) { return n.FindCtx(ctx, tok) },
			} {
				if got, ok, err := find(tc.token); got != nil || ok || err != nil {
					t.Errorf("%s(%.12q) = %q, %v, %v; want nil, false, nil", name, tc.token, got, ok, err)
				}
			}
			if err := n.Delete(tc.token); err != nil {
				t.Errorf("Delete(%.12q) = %v, want nil", tc.token, err)
			}
			if err := n.DeleteCtx(ctx, tc.token); err != nil {
				t.Errorf("DeleteCtx(%.12q) = %v, want nil", tc.token, err)
			}
			if err := n.Commit(tc.token, []byte("x"), time.Time{}); !errors.Is(err, ErrInvalidToken) {
				t.Errorf("Commit(%.12q) = %v, want ErrInvalidToken", tc.token, err)
			}
		})
	}
	// The native API keeps reporting a token it can never hold.
	if _, _, err := n.Load(ctx, strings.Repeat("c", 300)); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("Load(300 bytes) = %v, want ErrInvalidToken", err)
	}
}

// TestSCSLongCookie: a client sending a 300-byte session cookie to an scs
// SessionManager on a node gets an ordinary response and a new session, not
// a 500.
func TestSCSLongCookie(t *testing.T) {
	c := newTestCluster(t, 1)
	sm := scs.New()
	sm.Store = c.live()[0]
	srv := httptest.NewServer(sm.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sm.Put(r.Context(), "seen", true)
		fmt.Fprint(w, "ok")
	})))
	t.Cleanup(srv.Close)
	for _, tc := range []struct{ name, cookie string }{
		{"300 bytes", strings.Repeat("A", 300)},
		{"bad characters", "not.a~token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.AddCookie(&http.Cookie{Name: sm.Cookie.Name, Value: tc.cookie})
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || string(body) != "ok" {
				t.Fatalf("status %d, body %q; want 200 \"ok\"", resp.StatusCode, body)
			}
			var fresh string
			for _, ck := range resp.Cookies() {
				if ck.Name == sm.Cookie.Name {
					fresh = ck.Value
				}
			}
			if fresh == "" || fresh == tc.cookie {
				t.Errorf("session cookie %q, want a new token", fresh)
			}
		})
	}
}

// TestFindReturnsCopy: the bytes Find returns belong to the caller, on the
// owner (which answers from memory) as on any other node; changing them
// changes no stored copy, and owner and replica stay equal.
func TestFindReturnsCopy(t *testing.T) {
	c := newTestCluster(t, 3)
	n := c.live()[0]
	const tok, want = "copy-me", "original"
	if err := n.Commit(tok, []byte(want), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	owner, replica := n.Locate(tok)
	for _, via := range c.live() {
		t.Run(via.Name(), func(t *testing.T) {
			got, ok, err := via.Find(tok)
			if err != nil || !ok || string(got) != want {
				t.Fatalf("Find(%q) = %q, %v, %v; want %q", tok, got, ok, err, want)
			}
			copy(got, "MODIFIED")
			for _, m := range c.live() {
				if again, _, err := m.Find(tok); string(again) != want {
					t.Errorf("after changing the result from %s: Find(%q) via %s = %q, %v; want %q", via.Name(), tok, m.Name(), again, err, want)
				}
			}
			for _, name := range []string{owner, replica} {
				m := c.node(name)
				if e := m.parts[m.partitionOf(tok)].get(tok); e == nil || string(e.value) != want {
					t.Errorf("stored copy on %s = %v, want %q", name, e, want)
				}
			}
		})
	}
}
