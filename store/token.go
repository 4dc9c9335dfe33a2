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
