package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/e5b1d45c/sessring/examples/internal/demo"
)

// TestControlsRefuseCrossSite: a web page on another site cannot make the
// developer's browser crash or start nodes, neither by posting a form
// across sites nor by rebinding its own name to the balancer's address;
// the demo page itself (same origin) and tools without a browser can.
func TestControlsRefuseCrossSite(t *testing.T) {
	const listen = "127.0.0.1:8080"
	c := &cluster{o: options{nodes: 1, stdout: io.Discard}, sup: newSupervisor("", []string{"n1"}, nil, io.Discard, io.Discard)}
	h := c.routes(listen)
	for _, tc := range []struct {
		name    string
		host    string
		headers map[string]string
		allowed bool
	}{
		{"demo page", listen, map[string]string{"Origin": "http://" + listen, "Sec-Fetch-Site": "same-origin"}, true},
		{"demo page via localhost", "localhost:8080", map[string]string{"Origin": "http://localhost:8080", "Sec-Fetch-Site": "same-origin"}, true},
		{"curl", listen, nil, true},
		{"form on another site", listen, map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, false},
		{"another site, old browser", listen, map[string]string{"Origin": "https://evil.example"}, false},
		{"DNS rebinding", "evil.example:8080", map[string]string{"Origin": "http://evil.example:8080", "Sec-Fetch-Site": "same-origin"}, false},
	} {
		for _, path := range []string{demo.CrashPath, demo.StartPath} {
			t.Run(tc.name+path, func(t *testing.T) {
				form := url.Values{demo.NodeField: {"nobody"}}.Encode()
				r := httptest.NewRequest(http.MethodPost, "http://"+tc.host+path, strings.NewReader(form))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				for k, v := range tc.headers {
					r.Header.Set(k, v)
				}
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				// An allowed request reaches the handler, which refuses the
				// unknown node with 400; a refused one never gets there.
				if got := w.Code != http.StatusForbidden; got != tc.allowed {
					t.Errorf("POST %s (%s) = %d %q, want allowed=%v", path, tc.name, w.Code, w.Body.String(), tc.allowed)
				}
			})
		}
	}
}
