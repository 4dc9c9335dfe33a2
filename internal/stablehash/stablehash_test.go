package stablehash

import (
	"encoding/binary"
	"hash/fnv"
	"testing"
)

// The values are part of sessring's formats: they must equal FNV-1a 64 as
// hash/fnv computes it, and the published test vectors.
func TestMatchesHashFNV(t *testing.T) {
	for _, s := range []string{"", "a", "foobar", "node-01", "node-02", "tok-\x00\xff", "a much longer session token, 43 bytes long!"} {
		ref := fnv.New64a()
		ref.Write([]byte(s))
		want := ref.Sum64()
		if got := String(s); got != want {
			t.Errorf("String(%q) = %#x, want %#x", s, got, want)
		}
		if got := Bytes([]byte(s)); got != want {
			t.Errorf("Bytes(%q) = %#x, want %#x", s, got, want)
		}
	}
	for _, v := range []uint64{0, 1, 0xff, 1 << 40, 0x0102030405060708, ^uint64(0)} {
		ref := fnv.New64a()
		ref.Write(binary.LittleEndian.AppendUint64(nil, v))
		if got, want := AddUint64(Offset, v), ref.Sum64(); got != want {
			t.Errorf("AddUint64(Offset, %#x) = %#x, want %#x", v, got, want)
		}
	}
}

func TestVectors(t *testing.T) {
	for _, tc := range []struct {
		name      string
		got, want uint64
	}{
		// FNV-1a 64 reference vectors (draft-eastlake-fnv, IETF).
		{`String("")`, String(""), 0xcbf29ce484222325},
		{`String("a")`, String("a"), 0xaf63dc4c8601ec8c},
		{`String("foobar")`, String("foobar"), 0x85944171f73967e8},
		// splitmix64: the first output for seed 0 is Mix(0x9E3779B97F4A7C15).
		{"Mix(golden)", Mix(0x9E3779B97F4A7C15), 0xe220a8397b1dcdaf},
		{"Mix(0)", Mix(0), 0},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %#x, want %#x", tc.name, tc.got, tc.want)
		}
	}
}

func BenchmarkString(b *testing.B) {
	tok := "Qm9vdHN0cmFwIHRva2VuIGZvciBiZW5jaG1hcmtzISE"
	var sink uint64
	for b.Loop() {
		sink += String(tok)
	}
	_ = sink
}
