package store

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/internal/testkit"
)

var soakFor = flag.Duration("soak", 0, "run TestSustainedLoadIsFlat for this long per phase (default a short run)")

// TestRollingRestartUnderLoad restarts every node in turn (graceful leave,
// then a fresh process under the same name) while writers keep going: no
// write fails and every acknowledged value survives.
func TestRollingRestartUnderLoad(t *testing.T) {
	c := newTestCluster(t, 4)
	base := writeMany(t, c, "roll", 2000)
	tr := startTraffic(t, c, 4)
	for _, name := range []string{"node-01", "node-02", "node-03", "node-04"} {
		ip := c.IPs()[name]
		c.Leave(name)
		c.WaitConverged()
		c.StartAt(name, ip)
		c.WaitConverged()
	}
	tr.finish()
	if e := tr.errors.Load(); e > 0 {
		t.Errorf("%d writes failed during the rolling restart, want 0", e)
	}
	checkAll(t, c, base)
	tr.check(t, c)
}

// TestSustainedLoadIsFlat runs steady reads and writes in phases and checks
// that goroutines, heap and peer connections do not grow after warm-up.
func TestSustainedLoadIsFlat(t *testing.T) {
	testkit.SkipShort(t, "sustained load")
	phase := 1500 * time.Millisecond
	if *soakFor > 0 {
		phase = *soakFor
	}
	c := newTestCluster(t, 3)
	nodes := c.Nodes()
	var ops, failed atomic.Int64
	load := func(d time.Duration) {
		var wg sync.WaitGroup
		stop := time.Now().Add(d)
		for w := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n := nodes[w%len(nodes)]
				for i := 0; time.Now().Before(stop); i++ {
					tok := fmt.Sprintf("soak-%d-%d", w, i%500)
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					var err error
					if i%3 == 0 {
						err = n.CommitCtx(ctx, tok, []byte(fmt.Sprint(i)), time.Now().Add(time.Hour))
					} else {
						_, _, err = n.FindCtx(ctx, tok)
					}
					cancel()
					ops.Add(1)
					if err != nil {
						failed.Add(1)
					}
				}
			}()
		}
		wg.Wait()
	}
	sample := func() (int, uint64, int64) {
		// Let goroutines a load leaves behind (asynchronous replication,
		// pings) finish, so that only what stays is measured.
		last := -1
		for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); {
			g := runtime.NumGoroutine()
			if g == last {
				break
			}
			last = g
			time.Sleep(100 * time.Millisecond)
		}
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		var conns int64
		for _, n := range nodes {
			conns += n.client.Stats().ConnsOpen
		}
		return runtime.NumGoroutine(), ms.HeapAlloc, conns
	}
	// Every session the load uses exists before the first sample, however
	// few operations a loaded machine gets through (peer traffic is TLS).
	for w := range 6 {
		for i := range 500 {
			if err := nodes[w%len(nodes)].Commit(fmt.Sprintf("soak-%d-%d", w, i), []byte("0"), time.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
	}
	load(phase) // warm-up: connections, buffers
	g1, h1, c1 := sample()
	load(2 * phase)
	g2, h2, c2 := sample()
	t.Logf("%d operations (%d failed); after warm-up: %d goroutines, %d KiB heap, %d conns; after 2x more load: %d, %d KiB, %d",
		ops.Load(), failed.Load(), g1, h1>>10, c1, g2, h2>>10, c2)
	if ops.Load() < 1000 || failed.Load() > 0 {
		t.Errorf("%d operations, %d failed: want a steady load without failures", ops.Load(), failed.Load())
	}
	if g2 > g1+g1/10+10 {
		t.Errorf("goroutines grew from %d to %d under steady load", g1, g2)
	}
	// The heap of a few MiB moves by about 1 MiB between samples with
	// nothing leaking (buffers pooled or not at that instant); a leak
	// proportional to load grows past that with twice the load.
	if h2 > h1+h1/2+1<<20 {
		t.Errorf("heap grew from %d KiB to %d KiB under steady load", h1>>10, h2>>10)
	}
	// Each node keeps at most ConnsPerPeer (2) connections to each peer.
	if max := int64(len(nodes) * (len(nodes) - 1) * 2); c2 > max {
		t.Errorf("%d peer connections open, want at most %d", c2, max)
	}
}
