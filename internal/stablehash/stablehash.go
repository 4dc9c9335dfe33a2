package stablehash

const (
	// Offset is the FNV-1a 64 offset basis: the state of an empty input.
	Offset = 14695981039346656037
	prime  = 1099511628211
)

// String returns the FNV-1a 64 hash of s.
func String(s string) uint64 { return AddString(Offset, s) }

// Bytes returns the FNV-1a 64 hash of b.
func Bytes(b []byte) uint64 {
	h := uint64(Offset)
	for _, c := range b {
		h ^= uint64(c)
		h *= prime
	}
	return h
}

// AddString folds s into the FNV-1a 64 state h.
func AddString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= prime
	}
	return h
}

// AddUint64 folds v into the FNV-1a 64 state h, little-endian.
func AddUint64(h, v uint64) uint64 {
	for i := 0; i < 8; i++ {
		h ^= v & 0xff
		h *= prime
		v >>= 8
	}
	return h
}

// Mix is the splitmix64 finalizer: a bijection in which every input bit
// affects every output bit. FNV-1a alone leaves the last bytes of a string
// poorly mixed into the high bits, and names such as "node-01" and
// "node-02" differ only in their last byte.
func Mix(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}
