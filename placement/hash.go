package placement

import "math/bits"

// Every node must compute the same placement from the same member names, in
// every process and with every Go version, so the hashes here are written
// out by hand: FNV-1a 64 for strings (hash/fnv would need a []byte copy and
// an interface call per key) followed by the splitmix64 finalizer.
// hash/maphash is not used because its seeds differ per process.
//
// Changing any function or constant in this file changes where sessions
// live. Nodes running different versions would then disagree about owners
// without noticing; the algorithm constant below goes into Table.ID so that
// they at least see different placement epochs.

const (
	fnvOffset64 = 14695981039346656037
	fnvPrime64  = 1099511628211

	// golden is 2^64 divided by the golden ratio, the Weyl increment of
	// splitmix64. Multiplying the partition number by it spreads consecutive
	// partitions over all 64 bits before they are mixed with a member hash.
	golden = 0x9E3779B97F4A7C15

	// algorithm versions the placement function. It is part of every ID, so
	// bump it whenever the hashing or the ranking changes.
	algorithm = 1
)

// fnvString folds s into the FNV-1a 64 state h.
func fnvString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime64
	}
	return h
}

// fnvUint64 folds v into the FNV-1a 64 state h, little-endian.
func fnvUint64(h, v uint64) uint64 {
	for i := 0; i < 8; i++ {
		h ^= v & 0xff
		h *= fnvPrime64
		v >>= 8
	}
	return h
}

// mix64 is the splitmix64 finalizer: a bijection in which every input bit
// affects every output bit. FNV-1a alone leaves the last bytes of a string
// poorly mixed into the high bits, and names such as "node-01" and "node-02"
// differ only in their last byte.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// hashString is the stable 64-bit hash of member names and session keys.
func hashString(s string) uint64 {
	return mix64(fnvString(fnvOffset64, s))
}

// score is the rendezvous weight of a member (given its name hash) for
// partition p. The member with the highest score owns p; the runner-up holds
// the replica.
func score(nameHash uint64, p int) uint64 {
	return mix64(nameHash ^ uint64(p)*golden)
}

// PartitionOf returns the partition of key among partitions partitions
// (DefaultPartitions when partitions <= 0). It equals Table.Partition for a
// table with that many partitions, and does not depend on the members.
//
// The hash is scaled with a 64x64->128 bit multiply instead of a modulo: it
// is as uniform and avoids a division.
func PartitionOf(key string, partitions int) int {
	if partitions <= 0 {
		partitions = DefaultPartitions
	}
	hi, _ := bits.Mul64(hashString(key), uint64(partitions))
	return int(hi)
}

// fingerprint identifies a placement: the algorithm version, the partition
// count and the sorted member names. Names are length-prefixed so that
// {"ab", "c"} and {"a", "bc"} differ.
func fingerprint(members []string, partitions int) uint64 {
	h := fnvUint64(fnvOffset64, algorithm)
	h = fnvUint64(h, uint64(partitions))
	for _, m := range members {
		h = fnvUint64(h, uint64(len(m)))
		h = fnvString(h, m)
	}
	return mix64(h)
}
