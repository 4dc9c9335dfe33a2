package middleware_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"sync"
	"testing"
	"time"
)

// user is one browser: a cookie jar shared by every replica's server.
type user struct {
	c      *testCluster
	jar    http.CookieJar
	client *http.Client

	// mu guards next.
	mu   sync.Mutex
	next int // round-robin position
}

func (c *testCluster) newUser() *user {
	jar, err := cookiejar.New(nil)
	if err != nil {
		c.t.Fatal(err)
	}
	return &user{c: c, jar: jar, client: &http.Client{Jar: jar, Timeout: 20 * time.Second}}
}

// reply is one response, read in full.
type reply struct {
	code    int
	body    string
	replica string // X-Replica
	cookie  *http.Cookie
}

// get sends a GET to the next live replica, round-robin.
func (u *user) get(path string) reply {
	u.c.t.Helper()
	live := u.c.replicas()
	u.mu.Lock()
	r := live[u.next%len(live)]
	u.next++
	u.mu.Unlock()
	return u.getFrom(r, path)
}

// getFrom sends a GET to replica r.
func (u *user) getFrom(r *replica, path string) reply {
	u.c.t.Helper()
	rep, err := u.try(r, path, nil)
	if err != nil {
		u.c.t.Fatalf("GET %s%s: %v", r.name, path, err)
	}
	return rep
}

// try sends a GET to r with extra headers; it may run on any goroutine.
func (u *user) try(r *replica, path string, hdr http.Header) (reply, error) {
	req, err := http.NewRequest(http.MethodGet, r.srv.URL+path, nil)
	if err != nil {
		return reply{}, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := u.client.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	rep := reply{code: resp.StatusCode, body: strings.TrimSpace(string(body)), replica: resp.Header.Get("X-Replica")}
	for _, ck := range resp.Cookies() {
		if ck.Name == "sessring" {
			rep.cookie = ck
		}
	}
	return rep, nil
}

// token returns the session token the browser holds ("" for none).
func (u *user) token() string {
	r := u.c.replicas()[0]
	for _, ck := range u.jar.Cookies(mustURL(r.srv.URL)) {
		if ck.Name == "sessring" {
			return ck.Value
		}
	}
	return ""
}

// want checks a reply's status and body.
func (rep reply) want(t *testing.T, what string, code int, body string) {
	t.Helper()
	if rep.code != code || rep.body != body {
		t.Fatalf("%s via %s = %d %q, want %d %q", what, rep.replica, rep.code, rep.body, code, body)
	}
}
