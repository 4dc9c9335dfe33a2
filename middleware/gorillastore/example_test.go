package gorillastore_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"

	"github.com/e5b1d45c/sessring/middleware/gorillastore"
	"github.com/e5b1d45c/sessring/middleware/internal/memstore"
)

func Example() {
	// In production: gorillastore.New(node), node being this replica's
	// *store.Node. The only line that changes from sessions.NewCookieStore.
	sessions := gorillastore.New(memstore.New())

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := sessions.Get(r, "app")
		if err != nil {
			http.Error(w, "sessions unavailable", http.StatusServiceUnavailable)
			return
		}
		n, _ := s.Values["visits"].(int)
		s.Values["visits"] = n + 1
		if err := s.Save(r, w); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "visit %d", n+1)
	}))
	defer srv.Close()

	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	for range 2 {
		resp, err := c.Get(srv.URL)
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(strings.TrimSpace(string(body)))
	}
	// Output:
	// visit 1
	// visit 2
}
