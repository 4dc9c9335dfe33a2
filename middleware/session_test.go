package middleware

import (
	"fmt"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/middleware/internal/memstore"
)

func TestCounterAcrossRequests(t *testing.T) {
	var e *env
	e = newEnv(t, Config{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := e.m.Session(r)
		n := s.GetInt("n") + 1
		s.Put("n", n)
		fmt.Fprint(w, n)
	}))
	c := e.client()
	for want := 1; want <= 3; want++ {
		if _, body, _ := e.get(c, "/"); body != fmt.Sprint(want) {
			t.Fatalf("request %d: body = %q, want %q", want, body, fmt.Sprint(want))
		}
	}
	if got := e.st.Len(); got != 1 {
		t.Errorf("stored sessions = %d, want 1", got)
	}
	st := e.m.Stats()
	if st.Created != 1 || st.Saves != 2 || st.Loads != 2 {
		t.Errorf("Stats Created/Saves/Loads = %d/%d/%d, want 1/2/2", st.Created, st.Saves, st.Loads)
	}
}

func TestTypedValuesSurviveRoundTrip(t *testing.T) {
	when := time.Date(2031, 2, 3, 4, 5, 6, 7, time.UTC)
	values := map[string]any{
		"string": "s", "int": 42, "int64": int64(-7), "int32": int32(9), "bool": true,
		"float64": 2.5, "bytes": []byte("raw"), "time": when, "duration": time.Minute,
	}
	var e *env
	e = newEnv(t, Config{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := e.m.Session(r)
		if r.URL.Path == "/put" {
			for k, v := range values {
				s.Put(k, v)
			}
			return
		}
		got := map[string]any{
			"string": s.GetString("string"), "int": s.GetInt("int"), "int64": s.GetInt64("int64"),
			"int32": s.GetInt32("int32"), "bool": s.GetBool("bool"), "float64": s.GetFloat64("float64"),
			"bytes": s.GetBytes("bytes"), "time": s.GetTime("time"), "duration": s.GetDuration("duration"),
		}
		for k, want := range values {
			if !reflect.DeepEqual(got[k], want) {
				t.Errorf("Get%s = %#v, want %#v", k, got[k], want)
			}
		}
		if s.GetInt("string") != 0 || s.GetString("missing") != "" {
			t.Errorf("wrong-type or missing getters did not return zero values")
		}
	}))
	c := e.client()
	e.get(c, "/put")
	e.get(c, "/check")
}

func TestSessionMethods(t *testing.T) {
	e := newEnv(t, Config{}, nil)
	tok := e.seed(map[string]any{"a": "1", "b": "2", "flash": "hello"})
	var s *Session
	e.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _ = FromContext(r.Context())
		if got := s.Status(); got != Unmodified {
			t.Errorf("Status after load = %v, want Unmodified", got)
		}
		if got := s.Keys(); !reflect.DeepEqual(got, []string{"a", "b", "flash"}) {
			t.Errorf("Keys = %v, want [a b flash]", got)
		}
		if got := s.PopString("flash"); got != "hello" {
			t.Errorf("PopString(flash) = %q, want hello", got)
		}
		if s.Exists("flash") || s.Pop("flash") != nil {
			t.Errorf("flash still present after Pop")
		}
		s.Remove("a")
		s.Remove("nothing")
		s.Put("c", 3)
		if got := s.Keys(); !reflect.DeepEqual(got, []string{"b", "c"}) {
			t.Errorf("Keys = %v, want [b c]", got)
		}
		if s.Token() != tok || s.Status() != Modified {
			t.Errorf("Token/Status = %q/%v, want %q/Modified", s.Token(), s.Status(), tok)
		}
	}), withToken("GET", "/", tok))
	rec, _ := e.st.Peek(tok)
	if _, ok := rec.Fields["a"]; ok {
		t.Errorf("removed key a still stored")
	}
	if _, ok := rec.Fields["flash"]; ok {
		t.Errorf("popped key flash still stored")
	}
	if v, _ := e.stored(tok, "c"); v != 3 {
		t.Errorf("stored c = %v, want 3", v)
	}
}

func TestClearKeepsTokenAndRemembers(t *testing.T) {
	e := newEnv(t, Config{}, nil)
	tok := e.seed(map[string]any{"a": 1, "b": 2})
	e.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := e.m.Session(r)
		s.RememberMe(false)
		s.Clear()
		s.Put("c", 3)
	}), withToken("GET", "/", tok))
	rec, ok := e.st.Peek(tok)
	if !ok {
		t.Fatal("session gone after Clear")
	}
	want := []string{"c", persistKey}
	for _, k := range want {
		if _, ok := rec.Fields[k]; !ok {
			t.Errorf("field %q missing after Clear+Put", k)
		}
	}
	if len(rec.Fields) != len(want) {
		t.Errorf("fields after Clear = %d, want %d", len(rec.Fields), len(want))
	}
}

func TestReservedKeysIgnored(t *testing.T) {
	e := newEnv(t, Config{}, nil)
	e.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := e.m.Session(r)
		s.Put(persistKey, "x")
		if s.Exists(persistKey) || s.Status() != Unmodified {
			t.Errorf("Put of reserved key took effect")
		}
	}), getReq())
	if e.st.Len() != 0 {
		t.Errorf("reserved Put stored a session")
	}
}

func TestDetachedSession(t *testing.T) {
	e := newEnv(t, Config{}, nil)
	r, _ := http.NewRequest("GET", "/x", nil)
	s := e.m.Session(r)
	s.Put("k", "v")
	if s.GetString("k") != "v" {
		t.Errorf("detached Get = %q, want v", s.GetString("k"))
	}
	if err := s.Destroy(r.Context()); err != ErrNoSession {
		t.Errorf("detached Destroy = %v, want ErrNoSession", err)
	}
	if err := s.RenewToken(r.Context()); err != ErrNoSession {
		t.Errorf("detached RenewToken = %v, want ErrNoSession", err)
	}
	e.m.Session(r)
	if got := e.m.Stats().Detached; got != 2 {
		t.Errorf("Stats.Detached = %d, want 2", got)
	}
	if _, ok := FromContext(r.Context()); ok {
		t.Errorf("FromContext found a session without middleware")
	}
	if e.st.Calls(memstore.OpApply) != 0 {
		t.Errorf("detached session wrote to the store")
	}
}

func TestStackedManagers(t *testing.T) {
	st := memstore.New()
	cfgA, cfgB := DefaultConfig(), DefaultConfig()
	cfgB.Cookie.Name = "other"
	a, _ := New(st, cfgA)
	b, _ := New(st, cfgB)
	h := a.LoadAndSave(b.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.Session(r).Put("who", "a")
		b.Session(r).Put("who", "b")
		if s, _ := FromContext(r.Context()); s != b.Session(r) {
			t.Errorf("FromContext is not the innermost session")
		}
	})))
	rec := record(h, getReq())
	if n := len(rec.Result().Cookies()); n != 2 {
		t.Errorf("cookies set = %d, want 2", n)
	}
	if st.Len() != 2 {
		t.Errorf("stored sessions = %d, want 2", st.Len())
	}
}
