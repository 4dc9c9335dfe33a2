package middleware_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/internal/clustertest"
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
	node *store.Node
	m    *middleware.Manager
	srv  *httptest.Server
}

// testCluster is a cluster of replicas on the shared harness
// (internal/clustertest). Its methods may be called from any goroutine of
// the test.
type testCluster struct {
	*clustertest.Cluster[*replica]
	t   *testing.T
	cfg middleware.Config
	opt clusterOptions
	key []byte

	// mu guards all.
	mu  sync.Mutex
	all []*replica // every replica started, live or not, in start order

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
	c := &testCluster{t: t, opt: opt, key: storetest.Key()}
	c.cfg = middleware.DefaultConfig()
	c.cfg.Logger = discardLogger()
	// Requests during failure detection wait for the store, bounded by its
	// OpTimeout (5s below); the middleware must not give up first.
	c.cfg.StoreTimeout = 10 * time.Second
	if opt.cfg != nil {
		opt.cfg(&c.cfg)
	}
	t.Cleanup(c.closing.Wait) // after the harness has stopped the live nodes
	c.Cluster = clustertest.New(t, clustertest.Hooks[*replica]{
		Open: c.open,
		View: func(r *replica) clustertest.View { return storetest.View(r.node) },
		Halt: func(r *replica) {
			r.srv.Close()
			_ = r.node.Close()
		},
	})
	for range 3 {
		c.Add()
	}
	c.WaitConverged()
	return c
}

// memnetStoreConfig is tuned like the store's own tests (storetest.Config):
// failure detection fast enough for short tests, slow enough that a 2-core
// machine running the race detector does not declare live nodes dead.
func memnetStoreConfig(h clustertest.Host, key []byte) store.Config {
	cfg := storetest.Config(h, key)
	cfg.AntiEntropyInterval = 500 * time.Millisecond
	cfg.SweepInterval = 50 * time.Millisecond
	cfg.HandoverTimeout = 2 * time.Second
	cfg.Logger = discardLogger()
	return cfg
}

// open starts a replica at h: its store node, Manager and HTTP server.
func (c *testCluster) open(h clustertest.Host) (*replica, error) {
	n, err := store.Open(memnetStoreConfig(h, c.key))
	if err != nil {
		return nil, err
	}
	r := &replica{name: h.Name, node: n}
	if err := c.serve(r, c.opt); err != nil {
		n.Close()
		return nil, err
	}
	c.mu.Lock()
	c.all = append(c.all, r)
	c.mu.Unlock()
	return r, nil
}

// serve builds r's Manager and starts its HTTP server. Every response names
// the replica that served it (X-Replica), outside the session middleware.
func (c *testCluster) serve(r *replica, opt clusterOptions) error {
	m, err := middleware.New(r.node, c.cfg)
	if err != nil {
		return fmt.Errorf("middleware.New(%s): %w", r.name, err)
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
	return nil
}

// replicas returns the live replicas, in node order.
func (c *testCluster) replicas() []*replica { return c.Nodes() }

// crash kills replica r the way SIGKILL kills a process: its host drops off
// the network at once (the rest of the cluster only notices through failure
// detection), and its HTTP server goes away. The node is then closed in the
// background; with its host down it can hand nothing over.
func (c *testCluster) crash(r *replica) {
	c.Kill(r.name)
	c.closing.Go(func() { _ = r.node.Close() })
	r.srv.CloseClientConnections() // in-flight requests are cut off
	r.srv.Close()
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
