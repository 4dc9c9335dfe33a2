package middleware_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/alexedwards/scs/v2"
	scsmem "github.com/alexedwards/scs/v2/memstore"

	"github.com/e5b1d45c/sessring/middleware"
	"github.com/e5b1d45c/sessring/middleware/internal/memstore"
)

// The benchmarks serve one request per iteration, in process, through each
// session layer over an in-memory store: "read" reads one value, "update"
// reads and rewrites a counter. The session holds n other values of 64
// bytes. "none" is the handler without sessions. BenchmarkHandlers
// measures a real cluster and memcached over HTTP.

// sessionAPI is the part of both libraries a handler uses.
type sessionAPI interface {
	get(r *http.Request, key string) any
	getInt(r *http.Request, key string) int
	put(r *http.Request, key string, v any)
}

type sessringAPI struct{ m *middleware.Manager }

func (a sessringAPI) get(r *http.Request, k string) any    { return a.m.Session(r).Get(k) }
func (a sessringAPI) getInt(r *http.Request, k string) int { return a.m.Session(r).GetInt(k) }
func (a sessringAPI) put(r *http.Request, k string, v any) { a.m.Session(r).Put(k, v) }

type scsAPI struct{ m *scs.SessionManager }

func (a scsAPI) get(r *http.Request, k string) any    { return a.m.Get(r.Context(), k) }
func (a scsAPI) getInt(r *http.Request, k string) int { return a.m.GetInt(r.Context(), k) }
func (a scsAPI) put(r *http.Request, k string, v any) { a.m.Put(r.Context(), k, v) }

// benchHandler reads (and with update, increments) the counter.
func benchHandler(api sessionAPI, update bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := 0
		if api != nil {
			n = api.getInt(r, "counter")
			if update {
				api.put(r, "counter", n+1)
			}
		}
		io.WriteString(w, "ok")
	})
}

// prime creates a session with n filler values and returns its cookie.
func prime(b *testing.B, wrap func(http.Handler) http.Handler, api sessionAPI, n int) *http.Cookie {
	filler := strings.Repeat("v", 64)
	rec := httptest.NewRecorder()
	wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i := range n {
			api.put(r, fmt.Sprintf("field%03d", i), filler)
		}
		api.put(r, "counter", 0)
	})).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	cs := rec.Result().Cookies()
	if len(cs) != 1 {
		b.Fatalf("priming set %d cookies", len(cs))
	}
	return cs[0]
}

func BenchmarkSession(b *testing.B) {
	for _, n := range []int{1, 16, 128} {
		for _, op := range []string{"read", "update"} {
			update := op == "update"
			b.Run(fmt.Sprintf("none/%s/values=%d", op, n), func(b *testing.B) {
				run(b, benchHandler(nil, update), nil)
			})
			b.Run(fmt.Sprintf("sessring/%s/values=%d", op, n), func(b *testing.B) {
				cfg := middleware.DefaultConfig()
				cfg.Logger = discardLogger()
				m, err := middleware.New(memstore.New(), cfg)
				if err != nil {
					b.Fatal(err)
				}
				api := sessringAPI{m}
				run(b, m.LoadAndSave(benchHandler(api, update)), prime(b, m.LoadAndSave, api, n))
			})
			b.Run(fmt.Sprintf("scs/%s/values=%d", op, n), func(b *testing.B) {
				m := scs.New()
				m.Store = scsmem.NewWithCleanupInterval(0)
				m.Cookie.Name = "sessring"
				api := scsAPI{m}
				run(b, m.LoadAndSave(benchHandler(api, update)), prime(b, m.LoadAndSave, api, n))
			})
		}
	}
}

func run(b *testing.B, h http.Handler, cookie *http.Cookie) {
	req := httptest.NewRequest("GET", "/", nil)
	if cookie != nil {
		req.AddCookie(cookie)
	}
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
	}
}
