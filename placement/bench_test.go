package placement

import (
	"fmt"
	"hash/fnv"
	"testing"

	"github.com/e5b1d45c/sessring/internal/stablehash"
)

// benchSizes are the member counts benchmarked: a minimal cluster, a typical
// one, and the largest the targets cover.
var benchSizes = []int{3, 8, 32}

func benchMembers(n int) []string {
	ms := make([]string, n)
	for i := range ms {
		ms[i] = fmt.Sprintf("ip-10-0-3-%d.eu-west-1.compute.internal:7946", i)
	}
	return ms
}

// benchKey looks like an scs session token: 32 random bytes, base64url.
const benchKey = "9Vn3nJx0oJqQ2t1sE0nW6kqfX3nB8Yv5rT7uLmZcA1Q"

// BenchmarkNew measures a rebuild on a membership change.
func BenchmarkNew(b *testing.B) {
	for _, n := range benchSizes {
		ms := benchMembers(n)
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				New(ms, 0)
			}
		})
	}
}

// BenchmarkPartition compares the inlined FNV-1a with multiply-shift against
// hash/fnv with a modulo.
func BenchmarkPartition(b *testing.B) {
	tb := New(benchMembers(8), 0)
	b.Run("table", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			tb.Partition(benchKey)
		}
	})
	b.Run("stdlib-fnv-mod", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			h := fnv.New64a()
			h.Write([]byte(benchKey))
			_ = int(stablehash.Mix(h.Sum64()) % DefaultPartitions)
		}
	})
}

// BenchmarkHolders compares the precomputed table against ranking the
// members on every lookup, which is what the table saves.
func BenchmarkHolders(b *testing.B) {
	for _, n := range benchSizes {
		tb := New(benchMembers(n), 0)
		b.Run(fmt.Sprintf("table/members=%d", n), func(b *testing.B) {
			p := 0
			for b.Loop() {
				tb.Holders(p)
				p = (p + 7919) % DefaultPartitions
			}
		})
		hashes := make([]uint64, n)
		for i, m := range tb.members {
			hashes[i] = hashString(m)
		}
		b.Run(fmt.Sprintf("direct/members=%d", n), func(b *testing.B) {
			p := 0
			for b.Loop() {
				top2(hashes, p)
				p = (p + 7919) % DefaultPartitions
			}
		})
	}
}

// BenchmarkOwnerOf measures the full per-request lookup: key to owner.
func BenchmarkOwnerOf(b *testing.B) {
	tb := New(benchMembers(8), 0)
	b.ReportAllocs()
	for b.Loop() {
		tb.OwnerOf(benchKey)
	}
}
