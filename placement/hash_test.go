package placement

import (
	"hash/fnv"
	"testing"

	"github.com/e5b1d45c/sessring/internal/stablehash"
)

// TestHashString checks the name and key hash against hash/fnv and the
// splitmix64 finalizer, so that the placement function is exactly what the
// package documentation says (internal/stablehash pins the finalizer to its
// published output).
func TestHashString(t *testing.T) {
	for _, s := range []string{"", "a", "node-01", "ip-10-0-3-17.eu-west-1.compute.internal:7946"} {
		h := fnv.New64a()
		h.Write([]byte(s))
		if got, want := hashString(s), stablehash.Mix(h.Sum64()); got != want {
			t.Errorf("hashString(%q) = %#x, want %#x", s, got, want)
		}
	}
}

// TestTop2Ties checks that equal scores, which only colliding name hashes
// produce, go to the smaller name (the lower index).
func TestTop2Ties(t *testing.T) {
	tests := []struct {
		name          string
		hashes        []uint64
		first, second uint16
	}{
		{"empty", nil, none, none},
		{"one", []uint64{7}, 0, none},
		{"all equal", []uint64{7, 7, 7}, 0, 1},
		{"equal after a lower", []uint64{score0Lower(7), 7, 7}, 1, 2},
	}
	for _, tt := range tests {
		first, second := top2(tt.hashes, 0)
		if first != tt.first || second != tt.second {
			t.Errorf("%s: top2 = %d, %d; want %d, %d", tt.name, first, second, tt.first, tt.second)
		}
	}
}

// score0Lower returns a name hash whose partition-0 score is below that of h.
func score0Lower(h uint64) uint64 {
	for c := uint64(0); ; c++ {
		if score(c, 0) < score(h, 0) {
			return c
		}
	}
}
