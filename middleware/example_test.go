package middleware_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"

	"github.com/e5b1d45c/sessring/middleware"
	"github.com/e5b1d45c/sessring/middleware/internal/memstore"
)

// In production the Store is this replica's *store.Node; the examples use
// the in-memory twin.

// get fetches url with c and returns the body.
func get(c *http.Client, url string) string {
	resp, err := c.Get(url)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(body)))
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func newClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 5 * time.Second}
}

func ExampleManager_LoadAndSave() {
	sessions, err := middleware.New(memstore.New(), middleware.DefaultConfig())
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		s := sessions.Session(r)
		n := s.GetInt("visits") + 1
		s.Put("visits", n)
		fmt.Fprintf(w, "visit %d", n)
	})
	srv := httptest.NewServer(sessions.LoadAndSave(mux))
	defer srv.Close()

	browser := newClient()
	for range 3 {
		fmt.Println(get(browser, srv.URL))
	}
	fmt.Println("another browser:", get(newClient(), srv.URL))
	// Output:
	// 200 visit 1
	// 200 visit 2
	// 200 visit 3
	// another browser: 200 visit 1
}

func ExampleSession_RenewToken() {
	sessions, _ := middleware.New(memstore.New(), middleware.DefaultConfig())
	var before, after string
	mux := http.NewServeMux()
	mux.HandleFunc("/add", func(w http.ResponseWriter, r *http.Request) {
		sessions.Session(r).Put("cart", "book")
	})
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		s := sessions.Session(r)
		before = s.Token()
		// Renew before granting privileges: a token planted by an attacker
		// (session fixation) is worthless afterwards.
		if err := s.RenewToken(r.Context()); err != nil {
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		s.Put("user", "ann")
		after = s.Token()
	})
	mux.HandleFunc("/whoami", func(w http.ResponseWriter, r *http.Request) {
		s := sessions.Session(r)
		fmt.Fprintf(w, "%s with %s", s.GetString("user"), s.GetString("cart"))
	})
	srv := httptest.NewServer(sessions.LoadAndSave(mux))
	defer srv.Close()

	c := newClient()
	get(c, srv.URL+"/add")
	get(c, srv.URL+"/login")
	fmt.Println("token changed:", before != after)
	fmt.Println(get(c, srv.URL+"/whoami"))
	// Output:
	// token changed: true
	// 200 ann with book
}

func ExampleSession_Destroy() {
	sessions, _ := middleware.New(memstore.New(), middleware.DefaultConfig())
	mux := http.NewServeMux()
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		sessions.Session(r).Put("user", "ann")
	})
	mux.HandleFunc("/logout", func(w http.ResponseWriter, r *http.Request) {
		if err := sessions.Session(r).Destroy(r.Context()); err != nil {
			http.Error(w, "try again", http.StatusServiceUnavailable)
		}
	})
	mux.HandleFunc("/whoami", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "user=%q", sessions.Session(r).GetString("user"))
	})
	srv := httptest.NewServer(sessions.LoadAndSave(mux))
	defer srv.Close()

	c := newClient()
	get(c, srv.URL+"/login")
	fmt.Println(get(c, srv.URL+"/whoami"))
	get(c, srv.URL+"/logout")
	fmt.Println(get(c, srv.URL+"/whoami"))
	// Output:
	// 200 user="ann"
	// 200 user=""
}

// With LockExclusive a request waits for the session's other requests,
// cluster-wide, and fails with 503 rather than run unlocked.
func ExampleConfig_locking() {
	st := memstore.New()
	cfg := middleware.DefaultConfig()
	cfg.Locking = middleware.LockExclusive
	cfg.LockWait = 50 * time.Millisecond
	cfg.Logger = discardLogger()
	sessions, _ := middleware.New(st, cfg)
	srv := httptest.NewServer(sessions.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := sessions.Session(r)
		s.Put("n", s.GetInt("n")+1)
		fmt.Fprint(w, s.GetInt("n"))
	})))
	defer srv.Close()

	c := newClient()
	fmt.Println(get(c, srv.URL))

	// Another request of this session holds the lock (here, taken directly).
	token := c.Jar.Cookies(mustURL(srv.URL))[0].Value
	lease, _ := st.Lock(context.Background(), token, time.Minute)
	fmt.Println(get(c, srv.URL))
	st.Unlock(context.Background(), token, lease)
	fmt.Println(get(c, srv.URL))
	// Output:
	// 200 1
	// 503 Service Unavailable
	// 200 2
}

// Log out everywhere: sessions tied to a user with SetUser are listed in the
// user's index, and DestroyUser ends them on every node, here keeping the
// device that asked.
func ExampleManager_DestroyUser() {
	sessions, _ := middleware.New(memstore.New(), middleware.DefaultConfig())
	mux := http.NewServeMux()
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		s := sessions.Session(r)
		if err := s.RenewToken(r.Context()); err != nil {
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		if err := s.SetUser("account-42"); err != nil {
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
	})
	mux.HandleFunc("/devices", func(w http.ResponseWriter, r *http.Request) {
		list, err := sessions.UserSessions(r.Context(), sessions.Session(r).User())
		if err != nil {
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "%d signed in", len(list))
	})
	mux.HandleFunc("/logout-others", func(w http.ResponseWriter, r *http.Request) {
		s := sessions.Session(r)
		n, err := sessions.DestroyUser(r.Context(), s.User(), s.ID())
		if err != nil {
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "%d signed out", n)
	})
	srv := httptest.NewServer(sessions.LoadAndSave(mux))
	defer srv.Close()

	laptop, phone, tablet := newClient(), newClient(), newClient()
	for _, c := range []*http.Client{laptop, phone, tablet} {
		get(c, srv.URL+"/login")
	}
	fmt.Println(get(laptop, srv.URL+"/devices"))
	fmt.Println(get(laptop, srv.URL+"/logout-others"))
	fmt.Println(get(laptop, srv.URL+"/devices"))
	// Output:
	// 200 3 signed in
	// 200 2 signed out
	// 200 1 signed in
}
