package middleware_test

import (
	"encoding/gob"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
)

func init() {
	gob.Register(map[string]int{}) // the cart, for DefaultCodec's gob fallback and scs
}

// testApp is the application every replica runs.
//
//	/count          increments "n" and answers it
//	/cart/add?item= adds one item to the "cart" map, changed in place
//	/show           answers "n user cart" without changing anything
//	/login?user=    RenewToken, then puts "user"
//	/logout         Destroy
//	/static/...     answers "static" (IgnorePattern in some tests)
func testApp(r *replica, mux *http.ServeMux) {
	m := r.m
	mux.HandleFunc("/count", func(w http.ResponseWriter, req *http.Request) {
		s := m.Session(req)
		n := s.GetInt("n") + 1
		s.Put("n", n)
		fmt.Fprint(w, n)
	})
	mux.HandleFunc("/cart/add", func(w http.ResponseWriter, req *http.Request) {
		s := m.Session(req)
		cart, _ := s.Get("cart").(map[string]int)
		if cart == nil {
			cart = map[string]int{}
			s.Put("cart", cart)
		}
		cart[req.URL.Query().Get("item")]++ // in place: no Put needed once stored
		fmt.Fprint(w, cartString(cart))
	})
	mux.HandleFunc("/show", func(w http.ResponseWriter, req *http.Request) {
		s := m.Session(req)
		cart, _ := s.Get("cart").(map[string]int)
		fmt.Fprintf(w, "%d %q %s", s.GetInt("n"), s.GetString("user"), cartString(cart))
	})
	mux.HandleFunc("/login", func(w http.ResponseWriter, req *http.Request) {
		s := m.Session(req)
		if err := s.RenewToken(req.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		s.Put("user", req.URL.Query().Get("user"))
		fmt.Fprint(w, "welcome")
	})
	mux.HandleFunc("/logout", func(w http.ResponseWriter, req *http.Request) {
		if err := m.Session(req).Destroy(req.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, "bye")
	})
	mux.HandleFunc("/static/", func(w http.ResponseWriter, req *http.Request) {
		fmt.Fprint(w, "static")
	})
}

// cartString prints a cart in a stable order: "book=2,pen=1", or "-".
func cartString(cart map[string]int) string {
	if len(cart) == 0 {
		return "-"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(cart)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, cart[k]))
	}
	return strings.Join(parts, ",")
}
