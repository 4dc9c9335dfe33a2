package store

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/internal/testkit"
)

// BenchmarkJoin measures how long a node joining three nodes that hold
// sessions takes to pull its share: from Open returning until it has no
// partition pending, in one process over loopback TCP, plaintext, with
// 1 KiB sessions. Each size is one b.N round (the cluster is rebuilt per
// size, and filling it dominates the run); it reports join-s and the
// sessions the joiner holds afterwards.
//
//	go test -run '^$' -bench BenchmarkJoin -benchtime 1x ./store/
func BenchmarkJoin(b *testing.B) {
	for _, sessions := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("%dk", sessions/1000), func(b *testing.B) {
			for range b.N {
				joined, held := joinOnce(b, sessions, 1<<10)
				b.ReportMetric(joined.Seconds(), "join-s")
				b.ReportMetric(float64(held), "sessions-held")
			}
		})
	}
}

// joinOnce fills a fresh three-node cluster and times a fourth node's join.
func joinOnce(b *testing.B, sessions, size int) (time.Duration, int) {
	b.StopTimer()
	nodes := openBenchCluster(b, nil)
	fillCluster(b, nodes, sessions, size)
	runtime.GC()
	cfg := DefaultConfig()
	cfg.Name = "bench-joiner"
	cfg.BindAddr = "127.0.0.1:0"
	cfg.Join = []string{nodes[0].GossipAddr()}
	cfg.Logger = testkit.QuietLogger()
	b.StartTimer()
	n, err := Open(cfg)
	if err != nil {
		b.Fatalf("Open(%s) = %v", cfg.Name, err)
	}
	opened := time.Now()
	testkit.Eventually(b, 5*time.Minute, "the joiner to pull its partitions", func() bool {
		s := n.Stats()
		return len(s.Members) == 4 && s.PartitionsPending == 0 && s.PartitionsOwned > 0
	})
	joined := time.Since(opened)
	b.StopTimer()
	s := n.Stats()
	held := s.OwnedSessions + s.ReplicaSessions
	n.halt()
	for _, o := range nodes {
		o.halt()
	}
	return joined, held
}

// fillCluster commits sessions of size bytes through all nodes, from
// several goroutines.
func fillCluster(b *testing.B, nodes []*Node, sessions, size int) {
	val := benchValue(size)
	expiry := time.Now().Add(time.Hour)
	const workers = 16
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < sessions; i += workers {
				n := nodes[i%len(nodes)]
				tok, err := n.NewToken(false)
				if err == nil {
					err = n.Commit(tok, val, expiry)
				}
				if err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			b.Fatalf("fill: %v", err)
		}
	}
}
