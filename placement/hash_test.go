package placement

import (
	"hash/fnv"
	"testing"
)

// TestHashString checks the hand-written FNV-1a against hash/fnv and pins
// the splitmix64 finalizer to its published output, so that the placement
// function is exactly what the package documentation says.
func TestHashString(t *testing.T) {
	for _, s := range []string{"", "a", "node-01", "ip-10-0-3-17.eu-west-1.compute.internal:7946"} {
		h := fnv.New64a()
		h.Write([]byte(s))
		if got, want := hashString(s), mix64(h.Sum64()); got != want {
			t.Errorf("hashString(%q) = %#x, want %#x", s, got, want)
		}
	}
	// The first output of splitmix64 seeded with 0.
	if got, want := mix64(golden), uint64(0xE220A8397B1DCDAF); got != want {
		t.Errorf("mix64(golden) = %#x, want %#x", got, want)
	}
}

func TestFnvUint64(t *testing.T) {
	h := fnv.New64a()
	h.Write([]byte{0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01})
	if got, want := fnvUint64(fnvOffset64, 0x0102030405060708), h.Sum64(); got != want {
		t.Errorf("fnvUint64(offset, 0x0102030405060708) = %#x, want %#x", got, want)
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
