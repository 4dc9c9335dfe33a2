package store

import (
	"bytes"
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

	"github.com/e5b1d45c/sessring/internal/rpc"
	"github.com/e5b1d45c/sessring/internal/testkit"
	"github.com/e5b1d45c/sessring/internal/wire"
)

// The scs interfaces are satisfied without importing scs in the store.
var (
	_ scs.Store            = (*Node)(nil)
	_ scs.CtxStore         = (*Node)(nil)
	_ scs.IterableStore    = (*Node)(nil)
	_ scs.IterableCtxStore = (*Node)(nil)
)

// TestSCSSessionManager runs alexedwards/scs on a 3-node cluster: a client
// whose requests go round-robin to three app servers keeps one session.
func TestSCSSessionManager(t *testing.T) {
	c := newTestCluster(t, 3)
	var urls []string
	for _, n := range c.Nodes() {
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
	n := c.Nodes()[0]
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
	sm.Store = c.Nodes()[0]
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
	n := c.Nodes()[0]
	const tok, want = "copy-me", "original"
	if err := n.Commit(tok, []byte(want), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	owner, replica := n.Locate(tok)
	for _, via := range c.Nodes() {
		t.Run(via.Name(), func(t *testing.T) {
			got, ok, err := via.Find(tok)
			if err != nil || !ok || string(got) != want {
				t.Fatalf("Find(%q) = %q, %v, %v; want %q", tok, got, ok, err, want)
			}
			copy(got, "MODIFIED")
			for _, m := range c.Nodes() {
				if again, _, err := m.Find(tok); string(again) != want {
					t.Errorf("after changing the result from %s: Find(%q) via %s = %q, %v; want %q", via.Name(), tok, m.Name(), again, err, want)
				}
			}
			for _, name := range []string{owner, replica} {
				m := c.Node(name)
				if e := m.parts[m.partitionOf(tok)].get(tok); e == nil || string(e.value) != want {
					t.Errorf("stored copy on %s = %v, want %q", name, e, want)
				}
			}
		})
	}
}

// TestSCSIterate: scs.Iterate through any node of a 3-node cluster visits
// every live session stored through scs exactly once, with its current
// value, and nothing else: deleted and expired sessions, field sessions and
// internal records (keys outside the token alphabet) are left out.
func TestSCSIterate(t *testing.T) {
	c := newTestCluster(t, 3)
	nodes := c.Nodes()
	ctx := context.Background()
	managers := make([]*scs.SessionManager, len(nodes))
	for i, n := range nodes {
		managers[i] = scs.New()
		managers[i].Store = n
	}
	const sessions = 60
	want := make(map[string]int)
	var gone []string
	for i := range sessions + 2 {
		sm := managers[i%len(managers)]
		sctx, err := sm.Load(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		sm.Put(sctx, "i", i)
		if i == sessions+1 {
			sm.SetDeadline(sctx, time.Now().Add(200*time.Millisecond))
		}
		tok, _, err := sm.Commit(sctx)
		if err != nil {
			t.Fatalf("Commit session %d: %v", i, err)
		}
		if i < sessions {
			want[tok] = i
		} else {
			gone = append(gone, tok)
		}
	}
	if err := nodes[1].Delete(gone[0]); err != nil { // a tombstone now
		t.Fatal(err)
	}
	if _, err := nodes[0].Apply(ctx, "fields-session", Mutation{Set: map[string][]byte{"a": []byte("1")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := nodes[0].Apply(ctx, "~user.index", Mutation{Set: map[string][]byte{"tok": nil}}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, "the short session expired", func() bool {
		_, ok, err := nodes[2].Find(gone[1])
		return !ok && err == nil
	})
	for i, sm := range managers {
		seen := make(map[string]int)
		err := sm.Iterate(ctx, func(ictx context.Context) error {
			tok := sm.Token(ictx)
			seen[tok]++
			if got, w := sm.GetInt(ictx, "i"), want[tok]; got != w {
				t.Errorf("via %s: session %.8s has i = %d, want %d", nodes[i].Name(), tok, got, w)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("Iterate via %s = %v", nodes[i].Name(), err)
		}
		for tok := range want {
			if seen[tok] != 1 {
				t.Errorf("via %s: session %.8s seen %d times, want 1", nodes[i].Name(), tok, seen[tok])
			}
		}
		for tok, k := range seen {
			if _, ok := want[tok]; !ok {
				t.Errorf("via %s: Iterate visited %q (%d times), which is not a live scs session", nodes[i].Name(), tok, k)
			}
		}
	}
	all, err := nodes[0].All()
	if err != nil || len(all) != sessions {
		t.Fatalf("All() = %d sessions, %v; want %d", len(all), err, sessions)
	}
	// Each session comes from its owner alone: the owners' lists add up to
	// the sessions, with no copy listed twice.
	listed := 0
	for _, n := range nodes {
		v := n.view.Load()
		items, err := n.scanMember(ctx, v, n.name, v.table.Owned(n.name))
		if err != nil {
			t.Fatalf("%s lists its own sessions: %v", n.Name(), err)
		}
		listed += len(items)
	}
	if listed != sessions {
		t.Errorf("owners list %d sessions in all, want %d", listed, sessions)
	}
}

// TestAllPages: a scan of more than one page's worth of sessions per
// member (maxPullBytes) gets every session, from this node and a peer.
func TestAllPages(t *testing.T) {
	c := newTestCluster(t, 2)
	nodes := c.Nodes()
	const size = 600 << 10
	count := 4 * maxPullBytes / size // about twice a page per member
	want := make(map[string]byte, count)
	for i := range count {
		tok := fmt.Sprintf("big-%03d", i)
		if err := nodes[i%2].Commit(tok, bytes.Repeat([]byte{byte(i)}, size), time.Time{}); err != nil {
			t.Fatalf("Commit(%s) = %v", tok, err)
		}
		want[tok] = byte(i)
	}
	for _, n := range nodes {
		all, err := n.AllCtx(context.Background())
		if err != nil {
			t.Fatalf("AllCtx via %s = %v", n.Name(), err)
		}
		if len(all) != len(want) {
			t.Errorf("AllCtx via %s = %d sessions, want %d", n.Name(), len(all), len(want))
		}
		for tok, b := range want {
			if v := all[tok]; len(v) != size || v[0] != b || v[size-1] != b {
				t.Errorf("AllCtx via %s: %s has %d bytes starting %v, want %d bytes of %d", n.Name(), tok, len(v), v[:min(len(v), 1)], size, b)
			}
		}
	}
}

// TestUnknownMethod: a request this version does not know is refused with
// rpc.CodeUnknownMethod, so a newer member can tell an older one apart
// from a failure.
func TestUnknownMethod(t *testing.T) {
	c := newTestCluster(t, 1)
	n := c.Nodes()[0]
	var enc wire.Encoder
	header{"peer", n.view.Load().id()}.encode(&enc)
	_, err := n.serveRPC(context.Background(), 250, enc.B)
	var re *rpc.RemoteError
	if !errors.As(err, &re) || re.Code != rpc.CodeUnknownMethod {
		t.Errorf("serveRPC(method 250) = %v, want a RemoteError with code %d", err, rpc.CodeUnknownMethod)
	}
}
