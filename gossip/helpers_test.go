package gossip_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/gossip"
	"github.com/e5b1d45c/sessring/internal/memnet"
	"github.com/e5b1d45c/sessring/internal/testkit"
)

// holds polls cond for d and fails as soon as it does not hold.
func holds(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if !cond() {
			t.Fatalf("%s stopped holding", what)
		}
	}
}

// testLogger sends Warn and above to t.Log until the test's cleanups are
// done; memberlist goroutines may still log a moment after Close.
func testLogger(t *testing.T) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(w.stop) // registered first, so it runs last
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct {
	t       *testing.T
	mu      sync.Mutex // guards stopped and serializes t.Log
	stopped bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		w.t.Log(strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

func (w *testWriter) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
}

// fastConfig is a Config tuned for tests: detection in about 150ms.
func fastConfig(t *testing.T, name string, seeds ...string) gossip.Config {
	c := gossip.DefaultConfig()
	c.Name = name
	c.Join = seeds
	c.JoinTimeout = 10 * time.Second // only reached when a test fails
	c.JoinRetry = 20 * time.Millisecond
	tm := testkit.Gossip()
	c.ProbeInterval, c.ProbeTimeout = tm.ProbeInterval, tm.ProbeTimeout
	c.GossipInterval, c.PushPullInterval = tm.GossipInterval, tm.PushPullInterval
	c.SuspicionMult = tm.SuspicionMult
	c.DeadNodeReclaimTime = 200 * time.Millisecond
	c.Logger = testLogger(t)
	c.Meta = gossip.Meta{RPCAddr: "rpc." + name + ":8080", Incarnation: 1}
	return c
}

// cluster is a memnet network of test nodes.
type cluster struct {
	t   *testing.T
	net *memnet.Network
}

func newCluster(t *testing.T) *cluster {
	testkit.SkipShort(t, "starts an in-memory gossip cluster")
	return &cluster{t: t, net: memnet.New(1)}
}

// start runs cfg on host ip, gossiping on port (0: any), and closes it at
// cleanup.
func (c *cluster) start(ip string, port int, cfg gossip.Config) (*gossip.Cluster, error) {
	c.t.Helper()
	tr, err := c.net.Host(ip).GossipTransport(fmt.Sprintf("%s:%d", ip, port))
	if err != nil {
		c.t.Fatalf("GossipTransport(%s:%d) error = %v", ip, port, err)
	}
	cfg.Transport = tr
	g, err := gossip.New(cfg)
	if err == nil {
		c.t.Cleanup(func() { _ = g.Close() })
	}
	return g, err
}

// mustStart is start that fails the test on error.
func (c *cluster) mustStart(ip string, port int, cfg gossip.Config) *gossip.Cluster {
	c.t.Helper()
	g, err := c.start(ip, port, cfg)
	if err != nil {
		c.t.Fatalf("New(%s) error = %v", cfg.Name, err)
	}
	return g
}

func names(ms []gossip.Member) string {
	var s []string
	for _, m := range ms {
		s = append(s, m.Name)
	}
	return strings.Join(s, ",")
}

// waitMembers waits until every node lists exactly want (comma separated).
func waitMembers(t *testing.T, timeout time.Duration, want string, nodes ...*gossip.Cluster) {
	t.Helper()
	testkit.Eventually(t, timeout, "members "+want, func() bool {
		return !slices.ContainsFunc(nodes, func(g *gossip.Cluster) bool { return names(g.Members()) != want })
	})
}

// member returns name's entry in g's list.
func member(g *gossip.Cluster, name string) (gossip.Member, bool) {
	for _, m := range g.Members() {
		if m.Name == name {
			return m, true
		}
	}
	return gossip.Member{}, false
}

// drain empties a Changes channel.
func drain(ch <-chan struct{}) {
	select {
	case <-ch:
	default:
	}
}

// changed waits for a signal on ch.
func changed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	select {
	case <-ch:
	case <-ctx.Done():
		t.Fatalf("no Changes signal for %s within 3s", what)
	}
}
