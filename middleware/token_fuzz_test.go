package middleware

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

// FuzzRequestToken feeds arbitrary Cookie headers to token extraction and
// validation: no panic, and every accepted token is one the store accepts
// (URL-safe alphabet, 1..MaxTokenLen bytes).
func FuzzRequestToken(f *testing.F) {
	f.Add("sessring=" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0U1v")
	f.Add("sessring=; sessring=x; other=1")
	f.Add("sessring=\x00\xff%zz")
	f.Add("sessring=" + string(make([]byte, 300)))
	f.Fuzz(func(t *testing.T, header string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Cookie", header)
		for _, c := range r.Cookies() {
			err := ValidateToken(c.Value)
			if err != nil {
				if !errors.Is(err, ErrBadToken) {
					t.Fatalf("ValidateToken(%q) = %v, want ErrBadToken", c.Value, err)
				}
				continue
			}
			if len(c.Value) == 0 || len(c.Value) > 256 {
				t.Fatalf("ValidateToken accepted %q (%d bytes)", c.Value, len(c.Value))
			}
		}
	})
}
