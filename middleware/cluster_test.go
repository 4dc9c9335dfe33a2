package middleware_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/internal/memnet"
	"github.com/e5b1d45c/sessring/internal/storetest"
	"github.com/e5b1d45c/sessring/internal/testkit"
	"github.com/e5b1d45c/sessring/middleware"
	"github.com/e5b1d45c/sessring/store"
)

// The integration tests run what a service with three replicas behind a load
// balancer runs: three store nodes on the in-memory network (package
// memnet), one Manager per node and one real loopback HTTP server per
// Manager. Users are HTTP clients whose cookie jar is shared by the three
// servers (cookies ignore the port), so a user's requests can go to any
// replica.

// replica is one app server: a store node, its Manager and its HTTP server.
type replica struct {
	name string
	ip   string
	node *store.Node
	m    *middleware.Manager
	srv  *httptest.Server
}

// testCluster is a cluster of replicas. Its methods may be called from any
// goroutine of the test.
type testCluster struct {
	t   *testing.T
	net *memnet.Network
	cfg middleware.Config

	// mu guards all and down.
	mu   sync.Mutex
	all  []*replica   // in node order
	down map[int]bool // indexes in all of crashed or closed replicas

	closing sync.WaitGroup // node Close calls in flight
}

// clusterOptions adjusts a test cluster. Nil fields keep the defaults.
type clusterOptions struct {
	cfg func(*middleware.Config)             // Manager config (all nodes)
	app func(r *replica, mux *http.ServeMux) // extra routes
}

// newTestCluster starts the cluster and waits until every node agrees on
// the membership and holds its partitions.
func newTestCluster(t *testing.T, opt clusterOptions) *testCluster {
	testkit.SkipShort(t, "starts an in-memory store cluster")
	t.Helper()
	c := &testCluster{t: t, net: memnet.New(1), down: map[int]bool{}}
	c.cfg = middleware.DefaultConfig()
	c.cfg.Logger = discardLogger()
	// Requests during failure detection wait for the store, bounded by its
	// OpTimeout (5s below); the middleware must not give up first.
	c.cfg.StoreTimeout = 10 * time.Second
	if opt.cfg != nil {
		opt.cfg(&c.cfg)
	}
	t.Cleanup(c.close)
	var seeds []string
	key := storetest.Key()
	for i := range 3 {
		r := &replica{name: fmt.Sprintf("node-%d", i+1), ip: fmt.Sprintf("127.0.0.%d", 11+i)}
		sc := memnetStoreConfig(c.net, key, r.name, r.ip, seeds)
		n, err := store.Open(sc)
		if err != nil {
			t.Fatalf("store.Open(%s) = %v", r.name, err)
		}
		r.node = n
		c.mu.Lock()
		c.all = append(c.all, r)
		c.mu.Unlock()
		seeds = append(seeds, sc.BindAddr)
		c.serve(r, opt)
	}
	c.waitConverged()
	return c
}

// memnetStoreConfig is tuned like the store's own tests: failure detection
// fast enough for short tests, slow enough that a 2-core machine running the
// race detector does not declare live nodes dead.
func memnetStoreConfig(net *memnet.Network, key []byte, name, ip string, join []string) store.Config {
	cfg := store.DefaultConfig()
	cfg.Name = name
	cfg.SecretKey = key
	cfg.BindAddr = ip + ":7946"
	cfg.RPCAddr = ip + ":7947"
	cfg.Join = join
	cfg.Network = net.Host(ip)
	storetest.Fast(&cfg)
	cfg.AntiEntropyInterval = 500 * time.Millisecond
	cfg.SweepInterval = 50 * time.Millisecond
	cfg.HandoverTimeout = 2 * time.Second
	cfg.Logger = discardLogger()
	return cfg
}

// serve builds r's Manager and starts its HTTP server. Every response names
// the replica that served it (X-Replica), outside the session middleware.
func (c *testCluster) serve(r *replica, opt clusterOptions) {
	c.t.Helper()
	m, err := middleware.New(r.node, c.cfg)
	if err != nil {
		c.t.Fatalf("middleware.New(%s) = %v", r.name, err)
	}
	r.m = m
	mux := http.NewServeMux()
	testApp(r, mux)
	if opt.app != nil {
		opt.app(r, mux)
	}
	h := m.LoadAndSave(mux)
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("X-Replica", r.name)
		h.ServeHTTP(w, req)
	}))
}

// replicas returns the live replicas, in node order.
func (c *testCluster) replicas() []*replica {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*replica
	for i, r := range c.all {
		if !c.down[i] {
			out = append(out, r)
		}
	}
	return out
}

// waitConverged waits until every live node sees the same members and holds
// every partition it should.
func (c *testCluster) waitConverged() {
	c.t.Helper()
	testkit.Eventually(c.t, 20*time.Second, "cluster converged", func() bool {
		live := c.replicas()
		var table uint64
		for i, r := range live {
			s := r.node.Stats()
			if len(s.Members) != len(live) || s.PartitionsPending != 0 {
				return false
			}
			if i == 0 {
				table = s.TableID
			} else if s.TableID != table {
				return false
			}
		}
		return true
	})
}

// crash kills replica r the way SIGKILL kills a process: its host drops off
// the network at once (the rest of the cluster only notices through failure
// detection), and its HTTP server goes away. The node is then closed in the
// background; with its host down it can hand nothing over.
func (c *testCluster) crash(r *replica) {
	c.mu.Lock()
	for i, x := range c.all {
		if x == r {
			c.down[i] = true
		}
	}
	c.mu.Unlock()
	c.net.Crash(r.ip)
	c.closing.Go(func() { _ = r.node.Close() })
	r.srv.CloseClientConnections() // in-flight requests are cut off
	r.srv.Close()
}

// close stops every replica: servers first, then all nodes at once (a
// whole-cluster shutdown, so nothing waits for a hand-over that will not
// matter).
func (c *testCluster) close() {
	c.mu.Lock()
	var live []*replica
	for i, r := range c.all {
		if !c.down[i] {
			live = append(live, r)
			c.down[i] = true
		}
	}
	c.mu.Unlock()
	for _, r := range live {
		if r.srv != nil { // nil when the test failed while starting it
			r.srv.Close()
		}
		c.net.Crash(r.ip)
	}
	for _, r := range live {
		c.closing.Go(func() { _ = r.node.Close() })
	}
	c.closing.Wait()
}

// stats sums the Managers' counters over every replica, live or not.
func (c *testCluster) stats() middleware.Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	var sum middleware.Stats
	for _, r := range c.all {
		s := r.m.Stats()
		sum.Requests += s.Requests
		sum.Ignored += s.Ignored
		sum.Loads += s.Loads
		sum.LoadMisses += s.LoadMisses
		sum.BadTokens += s.BadTokens
		sum.Created += s.Created
		sum.Saves += s.Saves
		sum.Destroyed += s.Destroyed
		sum.Renewed += s.Renewed
		sum.LockAcquired += s.LockAcquired
		sum.LockTimeouts += s.LockTimeouts
		sum.LockAutoSkipped += s.LockAutoSkipped
		sum.LockAutoMisses += s.LockAutoMisses
		sum.Vanished += s.Vanished
		sum.Errors += s.Errors
	}
	return sum
}

// storeOps sums the store reads and writes of the live nodes.
func (c *testCluster) storeOps() (reads, writes uint64) {
	for _, r := range c.replicas() {
		s := r.node.Stats()
		reads += s.Reads
		writes += s.Writes + s.Deletes
	}
	return reads, writes
}

// loadEverywhere reads token directly from every live node.
func (c *testCluster) loadEverywhere(token string) map[string]bool {
	c.t.Helper()
	found := map[string]bool{}
	for _, r := range c.replicas() {
		_, ok, err := r.node.Load(c.t.Context(), token)
		if err != nil {
			c.t.Fatalf("Load via %s = %v", r.name, err)
		}
		found[r.name] = ok
	}
	return found
}
