package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/internal/testkit"
)

// The benchmarks in this file report how costs grow with the cluster: CPU
// per request and per replicated write from 3 to 9 nodes, and the idle
// traffic of anti-entropy. All nodes run in this one process over loopback
// TCP, plaintext, so CPU is the process's own (getrusage): every node's
// share of a request, the caller's included, plus the background work of
// all nodes (gossip, leases, anti-entropy) during the window. Join time
// from 10k to 1M sessions is BenchmarkJoin (join_bench_test.go).

// openScaleCluster opens count plaintext nodes in this process (loopback
// TCP, production gossip timing), applies tweak to each config, and waits
// until all see each other with nothing left to pull.
func openScaleCluster(b *testing.B, count int, tweak func(*Config)) []*Node {
	b.Helper()
	var nodes []*Node
	var seeds []string
	for i := range count {
		cfg := DefaultConfig()
		cfg.Name = fmt.Sprintf("scale-%d", i)
		cfg.BindAddr = "127.0.0.1:0"
		cfg.Join = seeds
		cfg.Insecure = true
		cfg.Logger = testkit.QuietLogger()
		if tweak != nil {
			tweak(&cfg)
		}
		n, err := Open(cfg)
		if err != nil {
			b.Fatalf("Open(%s) = %v", cfg.Name, err)
		}
		b.Cleanup(n.halt)
		nodes = append(nodes, n)
		seeds = []string{nodes[0].GossipAddr()}
	}
	testkit.Eventually(b, time.Minute, fmt.Sprintf("%d members with pulls done", count), func() bool {
		for _, n := range nodes {
			if s := n.Stats(); len(s.Members) != count || s.PartitionsPending != 0 {
				return false
			}
		}
		return true
	})
	return nodes
}

// BenchmarkScalingCPU measures the process CPU per request as the cluster
// grows from 3 to 9 nodes: a Find of a random session through a random
// node (mostly forwarded to the owner, as behind a round-robin balancer),
// a Find at the session's owner (sticky), and a replicated Commit through a
// random node. 8 callers, 1 KiB sessions, 2,000 sessions.
//
//	go test ./store/ -run '^$' -bench BenchmarkScalingCPU -benchtime 20000x
func BenchmarkScalingCPU(b *testing.B) {
	const (
		size     = 1 << 10
		sessions = 2000
		callers  = 8
	)
	for _, count := range []int{3, 5, 7, 9} {
		b.Run(fmt.Sprintf("nodes=%d", count), func(b *testing.B) {
			nodes := openScaleCluster(b, count, nil)
			toks := make([]string, sessions)
			val := benchValue(size)
			expiry := time.Now().Add(time.Hour)
			for i := range toks {
				n := nodes[i%count]
				tok, err := n.NewToken(false)
				if err == nil {
					err = n.Commit(tok, val, expiry)
				}
				if err != nil {
					b.Fatal(err)
				}
				toks[i] = tok
			}
			owner := func(tok string) *Node {
				o := nodes[0].view.Load().table.OwnerOf(tok)
				for _, n := range nodes {
					if n.name == o {
						return n
					}
				}
				b.Fatalf("no node owns %s", tok)
				return nil
			}
			ops := []struct {
				name string
				do   func(r *rand.Rand) error
			}{
				{"find-any", func(r *rand.Rand) error {
					_, ok, err := nodes[r.IntN(count)].FindCtx(context.Background(), toks[r.IntN(sessions)])
					return found(ok, err)
				}},
				{"find-owner", func(r *rand.Rand) error {
					tok := toks[r.IntN(sessions)]
					_, ok, err := owner(tok).FindCtx(context.Background(), tok)
					return found(ok, err)
				}},
				{"commit-any", func(r *rand.Rand) error {
					return nodes[r.IntN(count)].Commit(toks[r.IntN(sessions)], val, expiry)
				}},
			}
			for _, op := range ops {
				cpu, wall := runCallers(b, callers, b.N, op.do)
				b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), op.name+"-cpu-µs")
				b.ReportMetric(float64(b.N)/wall.Seconds(), op.name+"-ops/s")
			}
		})
	}
}

func found(ok bool, err error) error {
	if err == nil && !ok {
		return errors.New("a stored session was not found")
	}
	return err
}

// runCallers runs total calls of do from callers goroutines and returns the
// process CPU and wall time they took.
func runCallers(b *testing.B, callers, total int, do func(r *rand.Rand) error) (cpu, wall time.Duration) {
	b.Helper()
	var wg sync.WaitGroup
	errs := make([]error, callers)
	cpu0, start := processCPU(), time.Now()
	for c := range callers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(c), 1))
			for i := c; i < total; i += callers {
				if err := do(r); err != nil {
					errs[c] = err
					return
				}
			}
		})
	}
	wg.Wait()
	wall, cpu = time.Since(start), processCPU()-cpu0
	for _, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	return cpu, wall
}

// BenchmarkAntiEntropyIdle measures what anti-entropy costs a node per
// interval in an idle cluster holding sessions: the digest calls (and any
// syncs) each owner made, with their bytes both ways, and for comparison
// every rpc byte and call the node sent or answered meanwhile (read leases
// too), and the process CPU per node per second while idle. AntiEntropyInterval is shortened to 250 ms to count several rounds;
// the traffic per round does not depend on the interval.
//
//	go test ./store/ -run '^$' -bench BenchmarkAntiEntropyIdle -benchtime 1x
func BenchmarkAntiEntropyIdle(b *testing.B) {
	const interval = 250 * time.Millisecond
	for _, tc := range []struct{ nodes, sessions int }{{3, 10_000}, {3, 100_000}, {9, 10_000}} {
		b.Run(fmt.Sprintf("nodes=%d/%s", tc.nodes, sizeName(tc.sessions)), func(b *testing.B) {
			for range b.N {
				nodes := openScaleCluster(b, tc.nodes, func(c *Config) { c.AntiEntropyInterval = interval })
				fillCluster(b, nodes, tc.sessions, 1<<10)
				// Let every node finish a round on the filled data before
				// counting (the first may repair what the fill raced).
				settled := make([]uint64, len(nodes))
				for i, n := range nodes {
					settled[i] = n.stats.antiEntropyCalls.Load()
				}
				testkit.Eventually(b, time.Minute, "an anti-entropy round on every node", func() bool {
					for i, n := range nodes {
						if n.stats.antiEntropyCalls.Load() <= settled[i] {
							return false
						}
					}
					return true
				})
				type snap struct{ aeCalls, aeBytes, rpcCalls, rpcBytes uint64 }
				take := func() []snap {
					out := make([]snap, len(nodes))
					for i, n := range nodes {
						cs, ss := n.client.Stats(), n.server.Stats()
						out[i] = snap{n.stats.antiEntropyCalls.Load(), n.stats.antiEntropyBytes.Load(),
							cs.Calls + ss.Calls, cs.BytesOut + ss.BytesOut}
					}
					return out
				}
				const rounds = 8
				before, start, cpu0 := take(), time.Now(), processCPU()
				time.Sleep(rounds * interval) // the measurement window itself, not a wait for a condition
				after, elapsed, cpu := take(), time.Since(start), processCPU()-cpu0
				intervals := elapsed.Seconds() / interval.Seconds()
				var d snap
				for i := range nodes {
					d.aeCalls += after[i].aeCalls - before[i].aeCalls
					d.aeBytes += after[i].aeBytes - before[i].aeBytes
					d.rpcCalls += after[i].rpcCalls - before[i].rpcCalls
					d.rpcBytes += after[i].rpcBytes - before[i].rpcBytes
				}
				per := func(x uint64) float64 { return float64(x) / float64(len(nodes)) / intervals }
				b.ReportMetric(per(d.aeCalls), "ae-calls/node/interval")
				b.ReportMetric(per(d.aeBytes), "ae-B/node/interval")
				b.ReportMetric(per(d.rpcCalls), "rpc-calls/node/interval")
				b.ReportMetric(per(d.rpcBytes), "rpc-B-out/node/interval")
				// Everything an idle node does: anti-entropy (here every
				// 250 ms, 40 times the default), leases, gossip, and the
				// expiry sweep, which visits every copy every SweepInterval.
				b.ReportMetric(float64(cpu.Microseconds())/1000/float64(len(nodes))/elapsed.Seconds(), "idle-cpu-ms/node/s")
				for _, n := range nodes {
					n.halt()
				}
			}
		})
	}
}
