package store

import (
	"runtime"
	"testing"
)

// BenchmarkHeapPerCopy measures what one stored copy of a 1 KiB session
// costs on the heap: three nodes in one process are filled through Commit
// (owner copy plus replica copy of each session), and the live heap after
// a garbage collection is divided by the copies held. It reports heap-B/copy
// next to the bytes the store counts against MaxBytes (counted-B/copy) and
// the budget of payload + 300 B (target-B/copy), and logs the comparison.
// The per-copy figure includes each node's share of the partition maps, so
// it falls as sessions per partition grow (16384 partitions by default).
//
//	go test ./store/ -run '^$' -bench BenchmarkHeapPerCopy -benchtime 1x -v
func BenchmarkHeapPerCopy(b *testing.B) {
	const size = 1 << 10
	for _, sessions := range []int{10_000, 100_000} {
		b.Run(sizeName(sessions), func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				nodes := openBenchCluster(b, nil)
				before := liveHeap()
				var held0 int64
				for _, n := range nodes {
					held0 += n.Stats().BytesHeld
				}
				fillCluster(b, nodes, sessions, size)
				after := liveHeap()
				copies, held := 0, int64(0)
				for _, n := range nodes {
					s := n.Stats()
					copies += s.OwnedSessions + s.ReplicaSessions
					held += s.BytesHeld
				}
				if copies == 0 {
					b.Fatal("no copies held")
				}
				perCopy := float64(after-before) / float64(copies)
				counted := float64(held-held0) / float64(copies)
				b.ReportMetric(perCopy, "heap-B/copy")
				b.ReportMetric(counted, "counted-B/copy")
				b.ReportMetric(size+300, "target-B/copy")
				verdict := "within"
				if perCopy > size+300 {
					verdict = "OVER"
				}
				b.Logf("%d sessions, %d copies: %.0f B of heap per %d B copy (overhead %.0f B; budget 300 B: %s), %.0f B counted",
					sessions, copies, perCopy, size, perCopy-size, verdict, counted)
				runtime.KeepAlive(nodes)
				for _, n := range nodes {
					n.halt()
				}
			}
		})
	}
}

// liveHeap is the heap in use after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC() // the first may leave finalizer-held objects for the second
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
