package store

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/internal/memnet"
	"github.com/e5b1d45c/sessring/internal/testkit"
)

// testCluster runs nodes of one cluster on an in-memory network.
type testCluster struct {
	t     testing.TB
	net   *memnet.Network
	key   []byte
	tweak func(*Config)

	// mu guards nodes and ips.
	mu    sync.Mutex
	nodes map[string]*Node
	ips   map[string]string
	next  int
}

func newTestCluster(t testing.TB, size int) *testCluster {
	t.Helper()
	if size != 1 { // one node starts in milliseconds: golden and API tests keep running under -short
		testkit.SkipShort(t, "starts an in-memory store cluster")
	}
	c := &testCluster{t: t, net: memnet.New(1), key: randomKey(), nodes: map[string]*Node{}, ips: map[string]string{}}
	t.Cleanup(c.closeAll)
	for range size {
		c.add()
	}
	c.waitConverged()
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
	cfg.Network = c.net.Host(ip)
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

// add starts a new node joining the cluster (the first starts it).
func (c *testCluster) add() *Node {
	c.mu.Lock()
	c.next++
	name := fmt.Sprintf("node-%02d", c.next)
	ip := fmt.Sprintf("127.0.0.%d", 10+c.next)
	c.mu.Unlock()
	return c.startAs(name, ip)
}

func (c *testCluster) startAs(name, ip string) *Node {
	c.t.Helper()
	n, err := Open(c.config(name, ip, c.seeds(name)))
	if err != nil {
		c.t.Fatalf("Open(%s) = %v", name, err)
	}
	c.mu.Lock()
	c.nodes[name], c.ips[name] = n, ip
	c.mu.Unlock()
	return n
}

func (c *testCluster) seeds(except string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var s []string
	for name, ip := range c.ips {
		if name != except && c.nodes[name] != nil {
			s = append(s, ip+":7946")
		}
	}
	return s
}

func (c *testCluster) node(name string) *Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[name]
}

func (c *testCluster) live() []*Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*Node
	for _, n := range c.nodes {
		if n != nil {
			out = append(out, n)
		}
	}
	return out
}

// crash kills a node the way SIGKILL does: its host drops off the network
// first, then its goroutines stop without handing anything over.
func (c *testCluster) crash(name string) {
	c.mu.Lock()
	n, ip := c.nodes[name], c.ips[name]
	c.nodes[name] = nil
	c.mu.Unlock()
	c.net.Crash(ip)
	n.halt()
	c.net.Revive(ip)
}

// leave closes a node gracefully.
func (c *testCluster) leave(name string) {
	c.mu.Lock()
	n := c.nodes[name]
	c.nodes[name] = nil
	c.mu.Unlock()
	if err := n.Close(); err != nil {
		c.t.Errorf("Close(%s) = %v", name, err)
	}
}

func (c *testCluster) closeAll() {
	for _, n := range c.live() {
		n.halt()
	}
}

// waitConverged waits until every live node sees the same members and holds
// every partition it should (handoff done).
func (c *testCluster) waitConverged() {
	c.t.Helper()
	testkit.Eventually(c.t, 20*time.Second, "cluster converged", func() bool {
		nodes := c.live()
		var id uint64
		for i, n := range nodes {
			s := n.Stats()
			if len(s.Members) != len(nodes) || s.PartitionsPending != 0 {
				return false
			}
			if i == 0 {
				id = s.TableID
			} else if s.TableID != id {
				return false
			}
		}
		return true
	})
}

// writeMany commits count sessions through random nodes with parallel
// writers and returns the acknowledged values.
func writeMany(t testing.TB, c *testCluster, prefix string, count int) map[string]string {
	t.Helper()
	nodes := c.live()
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
	nodes := c.live()
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
