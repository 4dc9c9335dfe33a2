package store

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/internal/testkit"
)

var (
	joinSizes      = flag.String("join.sizes", "10000,100000", "BenchmarkJoin's cluster sizes in sessions, comma-separated (1000000 takes a minute to fill and about 6 GB)")
	joinCPUProfile = flag.String("join.cpuprofile", "", "write a CPU profile of BenchmarkJoin's join windows (not the fills) to this file")
)

// BenchmarkJoin measures how long a node joining three nodes that hold
// sessions takes to pull its share: from Open returning until it has no
// partition pending, in one process over loopback TCP, plaintext, with
// 1 KiB sessions. Each size is one b.N round (the cluster is rebuilt per
// size, and filling it dominates the run). It reports join-s, join-cpu-s
// (CPU time of the whole process meanwhile: the joiner and the three
// sources, a figure a busy machine disturbs less than the wall clock) and
// the sessions the joiner holds afterwards.
//
//	go test ./store/ -run '^$' -bench BenchmarkJoin -benchtime 1x
//	go test ./store/ -run '^$' -bench BenchmarkJoin -benchtime 1x -args -join.sizes 1000000
func BenchmarkJoin(b *testing.B) {
	var sizes []int
	for _, f := range strings.Split(*joinSizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			b.Fatalf("-join.sizes: bad size %q", f)
		}
		sizes = append(sizes, n)
	}
	var prof *os.File
	if *joinCPUProfile != "" {
		f, err := os.Create(*joinCPUProfile)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		prof = f
	}
	for _, sessions := range sizes {
		b.Run(sizeName(sessions), func(b *testing.B) {
			for range b.N {
				r := joinOnce(b, sessions, 1<<10, prof)
				prof = nil // one profile: of the first join
				b.ReportMetric(r.wall.Seconds(), "join-s")
				b.ReportMetric(r.cpu.Seconds(), "join-cpu-s")
				b.ReportMetric(float64(r.held), "sessions-held")
			}
		})
	}
}

func sizeName(n int) string {
	if n >= 1_000_000 && n%1_000_000 == 0 {
		return fmt.Sprintf("%dM", n/1_000_000)
	}
	return fmt.Sprintf("%dk", n/1000)
}

type joinResult struct {
	wall, cpu time.Duration
	held      int
}

// joinOnce fills a fresh three-node cluster and times a fourth node's
// join, profiling the join window to prof if it is not nil.
func joinOnce(b *testing.B, sessions, size int, prof *os.File) joinResult {
	b.StopTimer()
	nodes := openBenchCluster(b, nil)
	fillCluster(b, nodes, sessions, size)
	runtime.GC()
	cfg := DefaultConfig()
	cfg.Name = "bench-joiner"
	cfg.BindAddr = "127.0.0.1:0"
	cfg.Join = []string{nodes[0].GossipAddr()}
	cfg.Insecure = true // the cluster is plaintext (openBenchCluster with no key)
	cfg.Logger = testkit.QuietLogger()
	if prof != nil {
		if err := pprof.StartCPUProfile(prof); err != nil {
			b.Fatal(err)
		}
	}
	cpu0 := processCPU()
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
	r := joinResult{wall: time.Since(opened)}
	b.StopTimer()
	r.cpu = processCPU() - cpu0
	if prof != nil {
		pprof.StopCPUProfile()
	}
	s := n.Stats()
	r.held = s.OwnedSessions + s.ReplicaSessions
	n.halt()
	for _, o := range nodes {
		o.halt()
	}
	return r
}

// processCPU is the user plus system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
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
