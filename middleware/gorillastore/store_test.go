package gorillastore

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/sessions"

	"github.com/e5b1d45c/sessring/middleware"
	"github.com/e5b1d45c/sessring/middleware/internal/memstore"
	"github.com/e5b1d45c/sessring/store"
)

// recorder is a memstore that records mutations.
type recorder struct {
	*memstore.Store
	mu   sync.Mutex
	muts []store.Mutation
}

func (r *recorder) Apply(ctx context.Context, tok string, m store.Mutation) (store.Record, error) {
	r.mu.Lock()
	r.muts = append(r.muts, m)
	r.mu.Unlock()
	return r.Store.Apply(ctx, tok, m)
}

func (r *recorder) take() []store.Mutation {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.muts
	r.muts = nil
	return m
}

func newStore(t *testing.T) (*Store, *recorder) {
	t.Helper()
	rec := &recorder{Store: memstore.New()}
	s := New(rec)
	s.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	return s, rec
}

// call runs fn as a handler for a request carrying cookie (may be nil) and
// returns the response's session cookie.
func call(t *testing.T, cookie *http.Cookie, fn func(w http.ResponseWriter, r *http.Request)) *http.Cookie {
	t.Helper()
	req := httptest.NewRequest("GET", "/", nil)
	if cookie != nil {
		req.AddCookie(cookie)
	}
	w := httptest.NewRecorder()
	fn(w, req)
	for _, c := range w.Result().Cookies() {
		if c.Name == "app" {
			return c
		}
	}
	return nil
}

func TestDropInFlow(t *testing.T) {
	s, _ := newStore(t)
	c := call(t, nil, func(w http.ResponseWriter, r *http.Request) {
		sess, err := s.Get(r, "app")
		if err != nil || !sess.IsNew {
			t.Fatalf("Get = %v, IsNew %v", err, sess.IsNew)
		}
		sess.Values["user"] = "ann"
		sess.Values[42] = 43
		sess.AddFlash("welcome")
		if err := sessions.Save(r, w); err != nil {
			t.Fatalf("Save: %v", err)
		}
	})
	if c == nil || c.MaxAge < 86399 || c.MaxAge > 86401 || !c.HttpOnly {
		t.Fatalf("cookie %+v, want a 24h HttpOnly cookie", c)
	}
	call(t, c, func(w http.ResponseWriter, r *http.Request) {
		sess, err := s.Get(r, "app")
		if err != nil || sess.IsNew || sess.ID != c.Value {
			t.Fatalf("Get = %v, IsNew %v, ID %q", err, sess.IsNew, sess.ID)
		}
		if sess.Values["user"] != "ann" || sess.Values[42] != 43 {
			t.Errorf("Values = %v", sess.Values)
		}
		if f := sess.Flashes(); !reflect.DeepEqual(f, []any{"welcome"}) {
			t.Errorf("Flashes = %v", f)
		}
		sess.Save(r, w)
	})
	call(t, c, func(w http.ResponseWriter, r *http.Request) {
		sess, _ := s.Get(r, "app")
		if f := sess.Flashes(); len(f) != 0 {
			t.Errorf("flashes after being read: %v", f)
		}
	})
}

func TestSaveSendsOnlyChanges(t *testing.T) {
	s, rec := newStore(t)
	c := call(t, nil, func(w http.ResponseWriter, r *http.Request) {
		sess, _ := s.Get(r, "app")
		sess.Values["a"], sess.Values["b"], sess.Values["c"] = 1, 2, 3
		sess.Save(r, w)
	})
	rec.take()
	call(t, c, func(w http.ResponseWriter, r *http.Request) {
		sess, _ := s.Get(r, "app")
		sess.Values["b"] = 20
		delete(sess.Values, "c")
		sess.Save(r, w)
	})
	muts := rec.take()
	if len(muts) != 1 {
		t.Fatalf("writes = %d, want 1", len(muts))
	}
	var set []string
	for k := range muts[0].Set {
		set = append(set, k)
	}
	sort.Strings(set)
	if !reflect.DeepEqual(set, []string{"b"}) || !reflect.DeepEqual(muts[0].Delete, []string{"c"}) || muts[0].Clear {
		t.Errorf("delta Set %v Delete %v Clear %v, want [b] [c] false", set, muts[0].Delete, muts[0].Clear)
	}
}

func TestConcurrentSavesMerge(t *testing.T) {
	s, rec := newStore(t)
	c := call(t, nil, func(w http.ResponseWriter, r *http.Request) {
		sess, _ := s.Get(r, "app")
		sess.Values["cart"] = "book"
		sess.Save(r, w)
	})
	var loaded, wg sync.WaitGroup
	loaded.Add(2)
	for _, key := range []string{"theme", "lang"} {
		wg.Go(func() {
			call(t, c, func(w http.ResponseWriter, r *http.Request) {
				sess, _ := s.Get(r, "app")
				loaded.Done()
				loaded.Wait() // both loaded before either saves
				sess.Values[key] = key
				sess.Save(r, w)
			})
		})
	}
	wg.Wait()
	r, _ := rec.Peek(c.Value)
	for _, k := range []string{"cart", "theme", "lang"} {
		if _, ok := r.Fields[k]; !ok {
			t.Errorf("field %q lost by a concurrent save", k)
		}
	}
}

func TestLoadFailureIsNotSaved(t *testing.T) {
	s, rec := newStore(t)
	c := call(t, nil, func(w http.ResponseWriter, r *http.Request) {
		sess, _ := s.Get(r, "app")
		sess.Values["cart"] = "book"
		sess.Save(r, w)
	})
	rec.Fail(memstore.OpLoad, store.ErrUnavailable)
	call(t, c, func(w http.ResponseWriter, r *http.Request) {
		sess, err := s.Get(r, "app")
		if !errors.Is(err, store.ErrUnavailable) || sess == nil {
			t.Fatalf("Get = %v, %v; want a stand-in session and ErrUnavailable", sess, err)
		}
		sess.Values["cart"] = "nothing"
		if err := sess.Save(r, w); !errors.Is(err, ErrNotLoaded) {
			t.Errorf("Save = %v, want ErrNotLoaded", err)
		}
	})
	if r, _ := rec.Peek(c.Value); len(r.Fields) != 1 {
		t.Errorf("stored session changed: %v", r.Fields)
	}
}

func TestNegativeMaxAgeDeletes(t *testing.T) {
	s, rec := newStore(t)
	c := call(t, nil, func(w http.ResponseWriter, r *http.Request) {
		sess, _ := s.Get(r, "app")
		sess.Values["a"] = 1
		sess.Save(r, w)
	})
	out := call(t, c, func(w http.ResponseWriter, r *http.Request) {
		sess, _ := s.Get(r, "app")
		sess.Options.MaxAge = -1
		if err := sess.Save(r, w); err != nil {
			t.Errorf("Save: %v", err)
		}
	})
	if _, ok := rec.Peek(c.Value); ok || out == nil || out.MaxAge >= 0 {
		t.Errorf("stored = %v, cookie %+v: want deleted and an expired cookie", ok, out)
	}
}

func TestUndecodableValuesSurviveSave(t *testing.T) {
	s, rec := newStore(t)
	good, _ := s.Codec.Encode("ok")
	rec.Put("tok", store.Record{Kind: store.KindFields, Version: 1, Expiry: time.Now().Add(time.Hour),
		Fields: map[string][]byte{"good": good, "broken": {0, 200}}})
	call(t, &http.Cookie{Name: "app", Value: "tok"}, func(w http.ResponseWriter, r *http.Request) {
		sess, err := s.Get(r, "app")
		if err != nil || sess.Values["good"] != "ok" || len(sess.Values) != 1 {
			t.Fatalf("Get = %v, Values %v", err, sess.Values)
		}
		sess.Values["new"] = 1
		sess.Save(r, w)
	})
	if r, _ := rec.Peek("tok"); len(r.Fields) != 3 {
		t.Errorf("fields after Save = %v, want broken kept", r.Fields)
	}
}

func TestSharesFormatWithMiddleware(t *testing.T) {
	s, rec := newStore(t)
	c := call(t, nil, func(w http.ResponseWriter, r *http.Request) {
		sess, _ := s.Get(r, "app")
		sess.Values["user"] = "ann"
		sess.Save(r, w)
	})
	cfg := middleware.DefaultConfig()
	cfg.Cookie.Name = "app"
	cfg.Logger = s.Logger
	m, err := middleware.New(rec, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var user string
	req := httptest.NewRequest("GET", "/", nil)
	req.AddCookie(c)
	m.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user = m.Session(r).GetString("user")
	})).ServeHTTP(httptest.NewRecorder(), req)
	if user != "ann" {
		t.Errorf("middleware read user = %q, want ann", user)
	}
}

func TestSecureOverTLS(t *testing.T) {
	s, _ := newStore(t)
	req := httptest.NewRequest("GET", "/", nil)
	req.TLS = &tls.ConnectionState{}
	w := httptest.NewRecorder()
	sess, _ := s.Get(req, "app")
	sess.Values["a"] = 1
	if err := sess.Save(req, w); err != nil {
		t.Fatal(err)
	}
	if cs := w.Result().Cookies(); len(cs) != 1 || !cs[0].Secure {
		t.Errorf("cookies %v, want one Secure cookie", cs)
	}
}

// A Save racing the session's deletion (a logout in another request, on any
// node) or its expiry must not bring it back, under its token or a new one.
func TestSaveNeverResurrects(t *testing.T) {
	for _, known := range []bool{true, false} {
		s, rec := newStore(t)
		c := call(t, nil, func(w http.ResponseWriter, r *http.Request) {
			sess, _ := s.Get(r, "app")
			sess.Values["user"] = "ann"
			sess.Save(r, w)
		})
		var sess *sessions.Session
		call(t, c, func(w http.ResponseWriter, r *http.Request) { sess, _ = s.Get(r, "app") })
		out := call(t, c, func(w http.ResponseWriter, r *http.Request) {
			if known {
				sess, _ = s.Get(r, "app") // a snapshot: Save sends a delta
			}
			if err := rec.DeleteCtx(context.Background(), c.Value); err != nil {
				t.Fatal(err)
			}
			sess.Values["cart"] = "book"
			if err := sess.Save(r, w); err != nil {
				t.Errorf("known=%v: Save = %v, want nil: the session is gone, nothing failed", known, err)
			}
		})
		if rec.Len() != 0 {
			t.Errorf("known=%v: %d sessions stored after Save, want none", known, rec.Len())
		}
		if out == nil || out.MaxAge >= 0 {
			t.Errorf("known=%v: cookie %+v, want it expired", known, out)
		}
		if sess.ID != "" || !sess.IsNew || len(sess.Values) != 0 {
			t.Errorf("known=%v: after Save ID %q IsNew %v Values %v, want a new empty session", known, sess.ID, sess.IsNew, sess.Values)
		}
	}
}
