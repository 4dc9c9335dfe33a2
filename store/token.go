package store

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
)

// NewToken returns a new random session token: 256 bits from crypto/rand,
// URL-safe base64 (43 characters). With local set, the token is one this
// node owns under its current view, so a sticky load balancer that keeps the
// client on this node serves it without a network hop (WildFly does the
// same). Ownership can still move later when membership changes.
func (n *Node) NewToken(local bool) (string, error) {
	v := n.view.Load()
	tries := 1
	if local && v != nil && v.table.Has(n.name) {
		tries = 64 * v.table.Len()
	}
	var tok string
	for range tries {
		var b [32]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", fmt.Errorf("store: token: %w", err)
		}
		tok = base64.RawURLEncoding.EncodeToString(b[:])
		if tries == 1 || v.table.OwnerOf(tok) == n.name {
			return tok, nil
		}
	}
	return tok, nil
}

// wellFormed reports whether t can be a session token of the scs API: 1 to
// MaxTokenLen bytes of the URL-safe base64 alphabet, which covers the tokens
// NewToken and scs mint. Keys outside it (package middleware's user
// indexes) are internal records, reachable only through the native API.
func wellFormed(t string) bool {
	if !validToken(t) {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
