package store

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/internal/clustertest"
	"github.com/e5b1d45c/sessring/internal/testkit"
)

// testCluster is the shared harness (internal/clustertest) running this
// package's nodes, with the config they start with: fast failure detection
// in memory, a key and a tweak a test may change between starts.
type testCluster struct {
	*clustertest.Cluster[*Node]
	t     testing.TB
	key   []byte
	tweak func(*Config)
}

func newTestCluster(t testing.TB, size int) *testCluster {
	t.Helper()
	if size != 1 { // one node starts in milliseconds: golden and API tests keep running under -short
		testkit.SkipShort(t, "starts an in-memory store cluster")
	}
	c := &testCluster{t: t, key: randomKey()}
	c.Cluster = clustertest.New(t, clustertest.Hooks[*Node]{
		Open: func(h clustertest.Host) (*Node, error) { return Open(c.config(h.Name, h.IP, h.Join)) },
		View: func(n *Node) clustertest.View {
			s := n.Stats()
			return clustertest.View{Members: len(s.Members), Pending: s.PartitionsPending, Table: s.TableID}
		},
		Halt: (*Node).halt,
	})
	for range size {
		c.Add()
	}
	c.WaitConverged()
	return c
}

// newTestClusterWith starts size nodes whose config tweak adjusts.
func newTestClusterWith(t testing.TB, size int, tweak func(*Config)) *testCluster {
	t.Helper()
	c := newTestCluster(t, 0)
	c.tweak = tweak
	return c.grow(size)
}

// newTestClusterWithKey starts size nodes keyed with key.
func newTestClusterWithKey(t *testing.T, size int, key []byte) *testCluster {
	t.Helper()
	c := newTestCluster(t, 0)
	c.key = key
	return c.grow(size)
}

// grow starts size more nodes and waits until the cluster converged.
func (c *testCluster) grow(size int) *testCluster {
	for range size {
		c.Add()
	}
	c.WaitConverged()
	return c
}

// randomKey returns a fresh cluster key: test clusters run keyed, as
// Validate requires, and no two tests share a key.
func randomKey() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

// config returns a node config tuned for fast failure detection in memory.
func (c *testCluster) config(name, ip string, join []string) Config {
	cfg := DefaultConfig()
	cfg.Name = name
	cfg.BindAddr = ip + ":7946"
	cfg.RPCAddr = ip + ":7947"
	cfg.Join = join
	cfg.SecretKey = c.key
	cfg.Network = c.Net.Host(ip)
	setTiming(&cfg, testkit.InMemory())
	// Fewer partitions than the default keep five nodes in one race-enabled
	// process cheap; placement's own tests cover the default count.
	cfg.Partitions = 2048
	cfg.CallTimeout = 300 * time.Millisecond
	cfg.OpTimeout = 5 * time.Second
	cfg.JoinTimeout = 5 * time.Second
	cfg.AntiEntropyInterval = 500 * time.Millisecond
	cfg.OrphanGrace = 2 * time.Second
	// A short memory of lost members: after two crashes in a small cluster
	// the survivors are a minority and wait this long before serving.
	cfg.LostMemberTTL = time.Second
	cfg.Logger = testkit.QuietLogger()
	if c.tweak != nil {
		c.tweak(&cfg)
	}
	return cfg
}

// setTiming copies a test cluster's failure-detection tuning into cfg
// (internal/storetest does the same for the packages built on store, which
// package store's own tests cannot import).
func setTiming(cfg *Config, tm testkit.Timing) {
	cfg.ProbeInterval = tm.ProbeInterval
	cfg.ProbeTimeout = tm.ProbeTimeout
	cfg.GossipInterval = tm.GossipInterval
	cfg.PushPullInterval = tm.PushPullInterval
	cfg.SuspicionMult = tm.SuspicionMult
}

// writeMany commits count sessions through random nodes with parallel
// writers and returns the acknowledged values.
func writeMany(t testing.TB, c *testCluster, prefix string, count int) map[string]string {
	t.Helper()
	nodes := c.Nodes()
	acked := make(map[string]string, count)
	var mu sync.Mutex
	var wg sync.WaitGroup
	work := make(chan int)
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := nodes[w%len(nodes)]
			for i := range work {
				tok := fmt.Sprintf("%s-%06d", prefix, i)
				val := fmt.Sprintf("value-%d", i)
				if err := n.Commit(tok, []byte(val), time.Now().Add(time.Hour)); err != nil {
					t.Errorf("Commit(%s) via %s = %v", tok, n.Name(), err)
					continue
				}
				mu.Lock()
				acked[tok] = val
				mu.Unlock()
			}
		}()
	}
	for i := range count {
		work <- i
	}
	close(work)
	wg.Wait()
	return acked
}

// checkAll reads every acknowledged session through every live node in turn
// and reports the ones missing or wrong.
func checkAll(t testing.TB, c *testCluster, acked map[string]string) {
	t.Helper()
	nodes := c.Nodes()
	var mu sync.Mutex
	bad := 0
	var wg sync.WaitGroup
	toks := make(chan string)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := nodes[w%len(nodes)]
			for tok := range toks {
				got, ok, err := n.FindCtx(context.Background(), tok)
				if err != nil || !ok || string(got) != acked[tok] {
					mu.Lock()
					if bad < 5 {
						t.Errorf("Find(%s) via %s = %q, %v, %v; want %q", tok, n.Name(), got, ok, err, acked[tok])
					}
					bad++
					mu.Unlock()
				}
			}
		}()
	}
	for tok := range acked {
		toks <- tok
	}
	close(toks)
	wg.Wait()
	if bad > 0 {
		t.Fatalf("%d of %d acknowledged sessions lost or wrong", bad, len(acked))
	}
}
