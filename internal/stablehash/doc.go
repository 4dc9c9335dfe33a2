// Package stablehash is the one 64-bit hash sessring computes the same way
// in every process, on every machine and with every Go version: FNV-1a 64,
// written out by hand (hash/fnv needs a []byte copy of a string and an
// interface call per key), and the splitmix64 finalizer Mix to spread its
// weakly mixed high bits.
//
// # Formats
//
// Its values are part of sessring's formats: placement uses them to choose
// the owner of every session (and in Table.ID), backup to choose the
// memcached server of every key, store in partition digests. Changing any
// function or constant here moves sessions between nodes and servers;
// nodes of two builds would disagree about owners. The tests pin the
// values against hash/fnv and published test vectors, and the golden tests
// of placement and backup pin their use.
//
// hash/maphash is not an alternative: its seeds differ per process.
package stablehash
