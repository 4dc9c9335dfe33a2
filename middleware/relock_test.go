package middleware

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"testing"

	"github.com/e5b1d45c/sessring/middleware/internal/memstore"
	"github.com/e5b1d45c/sessring/store"
)

// leaseLosingStore refuses the next lose writes that carry a lease with
// ErrLeaseLost, as the session's new owner does after ownership moved.
type leaseLosingStore struct {
	*memstore.Store
	mu   sync.Mutex
	lose int
}

func (s *leaseLosingStore) Apply(ctx context.Context, tok string, m store.Mutation) (store.Record, error) {
	s.mu.Lock()
	lost := m.Lease != 0 && s.lose > 0
	if lost {
		s.lose--
	}
	s.mu.Unlock()
	if lost {
		// The new owner holds no lease for the session.
		s.Store.Unlock(ctx, tok, m.Lease)
		return store.Record{}, fmt.Errorf("%w (the owner changed)", store.ErrLeaseLost)
	}
	return s.Store.Apply(ctx, tok, m)
}

func (s *leaseLosingStore) loseNext(n int) {
	s.mu.Lock()
	s.lose = n
	s.mu.Unlock()
}

// TestRelockFollowsOwnershipMoves: a locked request whose lease is lost at
// commit, and lost again after it locked anew (ownership moved twice, as in
// a rolling restart), commits once the session is locked at its owner; one
// that keeps losing it fails (503) without writing.
func TestRelockFollowsOwnershipMoves(t *testing.T) {
	st := &leaseLosingStore{Store: memstore.New()}
	cfg := DefaultConfig()
	cfg.Locking = LockExclusive
	cfg.Logger = slog.New(slog.DiscardHandler)
	m, err := New(st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := m.Session(r)
		s.Put("n", s.GetInt("n")+1)
		w.Write([]byte(strconv.Itoa(s.GetInt("n"))))
	})
	srv := m.LoadAndSave(h)
	code, body, cookie := serveWith(t, srv, nil)
	if code != http.StatusOK || body != "1" || cookie == nil {
		t.Fatalf("first request = %d %q (cookie %v), want 200 1 and a cookie", code, body, cookie)
	}
	st.loseNext(3) // the write, then the first two relocks: ownership moved three times
	if code, body, _ := serveWith(t, srv, cookie); code != http.StatusOK || body != "2" {
		t.Fatalf("request whose lease was lost 3 times = %d %q, want 200 2", code, body)
	}
	if got := m.Stats().Relocks; got != 1 {
		t.Errorf("Stats().Relocks = %d, want 1", got)
	}
	st.loseNext(100)
	if code, body, _ := serveWith(t, srv, cookie); code != http.StatusServiceUnavailable {
		t.Fatalf("request whose lease is always lost = %d %q, want 503", code, body)
	}
	st.loseNext(0)
	if code, body, _ := serveWith(t, srv, cookie); code != http.StatusOK || body != "3" {
		t.Fatalf("next request = %d %q, want 200 3: the failed one wrote nothing", code, body)
	}
}

// serveWith runs one request through h with cookie and returns the status,
// body and the session cookie set, if any.
func serveWith(t *testing.T, h http.Handler, cookie *http.Cookie) (int, string, *http.Cookie) {
	t.Helper()
	req := getReq()
	if cookie != nil {
		req.AddCookie(cookie)
	}
	rec := record(h, req)
	var set *http.Cookie
	for _, c := range rec.Result().Cookies() {
		if c.Name == "sessring" {
			set = c
		}
	}
	return rec.Code, rec.Body.String(), set
}
