package placement

import (
	"math/bits"

	"github.com/e5b1d45c/sessring/internal/stablehash"
)

// Every node must compute the same placement from the same member names, in
// every process and with every Go version, so the hashes here are
// internal/stablehash's: FNV-1a 64 written out by hand, followed by the
// splitmix64 finalizer. hash/maphash is not used because its seeds differ
// per process.
//
// Changing any function or constant in this file (or in stablehash)
// changes where sessions live. Nodes running different versions would then disagree about owners
// without noticing; the algorithm constant below goes into Table.ID so that
// they at least see different placement epochs.

const (
	// golden is 2^64 divided by the golden ratio, the Weyl increment of
	// splitmix64. Multiplying the partition number by it spreads consecutive
	// partitions over all 64 bits before they are mixed with a member hash.
	golden = 0x9E3779B97F4A7C15

	// algorithm versions the placement function. It is part of every ID, so
	// bump it whenever the hashing or the ranking changes.
	algorithm = 1
)

// hashString is the stable 64-bit hash of member names and session keys.
func hashString(s string) uint64 {
	return stablehash.Mix(stablehash.String(s))
}

// score is the rendezvous weight of a member (given its name hash) for
// partition p. The member with the highest score owns p; the runner-up holds
// the replica.
func score(nameHash uint64, p int) uint64 {
	return stablehash.Mix(nameHash ^ uint64(p)*golden)
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
	h := stablehash.AddUint64(stablehash.Offset, algorithm)
	h = stablehash.AddUint64(h, uint64(partitions))
	for _, m := range members {
		h = stablehash.AddUint64(h, uint64(len(m)))
		h = stablehash.AddString(h, m)
	}
	return stablehash.Mix(h)
}
