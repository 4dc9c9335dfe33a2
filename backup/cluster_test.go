package backup_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/backup"
	"github.com/e5b1d45c/sessring/internal/clustertest"
	"github.com/e5b1d45c/sessring/internal/storetest"
	"github.com/e5b1d45c/sessring/internal/testkit"
	"github.com/e5b1d45c/sessring/store"
)

// The tests in this package run store clusters on the in-memory network
// (internal/memnet) against a real memcached (internal/memcachedtest)
// through backup.New, the way an application embeds them.

// clusterKey is the SecretKey of the test clusters' store and backup.
var clusterKey = []byte("sessring backup test cluster key") // 32 bytes

// crashTimeout bounds how long stopping a crashed node may take: Close
// after memnet.Crash finds no peer to hand over to and must not hang.
const crashTimeout = 10 * time.Second

// errCrashed is what a crashed node's backup client returns.
var errCrashed = errors.New("node crashed")

// crashable is one node's memcached client, which dies with the node. Once
// killed, every call fails at once, as in a process that got SIGKILL: a
// crashed node's Close cannot flush its write-behind queue on the way out.
// Writes already on the wire complete, as they would in a real crash.
type crashable struct {
	*backup.Memcached
	dead atomic.Bool
}

func (c *crashable) Put(ctx context.Context, token string, data []byte, expiry time.Time) error {
	if c.dead.Load() {
		return errCrashed
	}
	return c.Memcached.Put(ctx, token, data, expiry)
}

func (c *crashable) Get(ctx context.Context, token string) ([]byte, bool, error) {
	if c.dead.Load() {
		return nil, false, errCrashed
	}
	return c.Memcached.Get(ctx, token)
}

func (c *crashable) Delete(ctx context.Context, token string) error {
	if c.dead.Load() {
		return errCrashed
	}
	return c.Memcached.Delete(ctx, token)
}

// member is one running node: a process with its own memcached client.
type member struct {
	name   string
	node   *store.Node
	backup *crashable
}

// cluster runs store nodes on the shared harness (internal/clustertest),
// all backed by the same memcached servers.
type cluster struct {
	*clustertest.Cluster[*member]
	t testing.TB
	// backupCfg is every node's backup config (Servers set by newCluster).
	backupCfg backup.Config
	// tweak adjusts every node's store config after the test defaults.
	tweak func(*store.Config)
}

// newCluster returns an empty cluster using memcached at servers. Nodes it
// still runs at the end of the test are crashed.
func newCluster(t testing.TB, servers []string, bcfg backup.Config, tweak func(*store.Config)) *cluster {
	t.Helper()
	testkit.SkipShort(t, "starts an in-memory store cluster")
	bcfg.Servers = servers
	c := &cluster{t: t, backupCfg: bcfg, tweak: tweak}
	c.Cluster = clustertest.New(t, clustertest.Hooks[*member]{
		Open:  c.open,
		View:  func(m *member) clustertest.View { return storetest.View(m.node) },
		Halt:  c.halt,
		Close: c.close,
	})
	t.Cleanup(c.crashAll) // before the harness's own cleanup: clients die first
	return c
}

// config is store's test tuning (storetest.Config): fast failure
// detection, short timeouts and fewer partitions, with a short write-behind
// delay and hand-over timeout.
func (c *cluster) config(h clustertest.Host, b store.Backup) store.Config {
	cfg := storetest.Config(h, clusterKey)
	// Anti-entropy runs often, so its interplay with the write-behind queue
	// is exercised (regression_test.go).
	cfg.AntiEntropyInterval = 200 * time.Millisecond
	cfg.HandoverTimeout = 500 * time.Millisecond
	cfg.Backup = b
	cfg.BackupDelay = 200 * time.Millisecond
	if c.tweak != nil {
		c.tweak(&cfg)
	}
	return cfg
}

// open starts a node at h with a memcached client of its own.
func (c *cluster) open(h clustertest.Host) (*member, error) {
	b, err := backup.New(c.backupCfg)
	if err != nil {
		c.t.Fatalf("backup.New: %v", err)
	}
	m := &member{name: h.Name, backup: &crashable{Memcached: b}}
	if m.node, err = store.Open(c.config(h, m.backup)); err != nil {
		b.Close()
		return nil, err
	}
	return m, nil
}

// halt stops a crashed node: Close finds nobody to hand over to.
func (c *cluster) halt(m *member) {
	m.node.Close() // errors expected: there is nobody to hand over to
	if err := m.backup.Close(); err != nil {
		c.t.Errorf("backup Close(%s) = %v", m.name, err)
	}
}

// close stops a node gracefully, its memcached client last.
func (c *cluster) close(m *member) error {
	err := m.node.Close()
	m.backup.Close()
	return err
}

// start opens nodes with the given names, one after the other (the first
// founds the cluster if none runs), and waits until the cluster converged.
// A name keeps its ip across restarts.
func (c *cluster) start(names ...string) {
	c.t.Helper()
	for _, name := range names {
		c.Start(name)
	}
	c.WaitConverged()
}

// nodes returns the running nodes in start order.
func (c *cluster) nodes() []*store.Node {
	var out []*store.Node
	for _, m := range c.Nodes() {
		out = append(out, m.node)
	}
	return out
}

// nodeSet is what the helpers below read and write through: a cluster, or
// the node in the test's process of a cluster of processes.
type nodeSet interface{ nodes() []*store.Node }

// crashAll kills every node at once, the way a power cut or a SIGKILL of
// every process would: their memcached clients die first (no last flush),
// then their hosts drop off the network, then Close reaps the goroutines,
// which must not take long with nobody left to hand over to.
func (c *cluster) crashAll() {
	ms := c.Nodes()
	for _, m := range ms {
		m.backup.dead.Store(true)
	}
	start := time.Now()
	c.HaltAll()
	if d := time.Since(start); d > crashTimeout {
		c.t.Errorf("stopping %d crashed nodes took %v, want at most %v", len(ms), d, crashTimeout)
	}
}

// restart waits for the write-behind queues, crashes every node and starts
// count fresh ones on the same memcached.
func (c *cluster) restart(count int, prefix string) {
	c.t.Helper()
	c.waitDrained(30 * time.Second)
	c.crashAll()
	c.start(names(prefix, count)...)
}

// load reads tok through n, failing the test on error.
func load(t testing.TB, n *store.Node, tok string) (store.Record, bool) {
	t.Helper()
	r, ok, err := n.Load(context.Background(), tok)
	if err != nil {
		t.Fatalf("Load(%s) via %s = %v", tok, n.Name(), err)
	}
	return r, ok
}

// waitDrained waits until no node has a write-behind backup pending.
func (c *cluster) waitDrained(timeout time.Duration) {
	c.t.Helper()
	testkit.Eventually(c.t, timeout, "write-behind queues drained", func() bool {
		for _, n := range c.nodes() {
			if n.Stats().Backup.Pending != 0 {
				return false
			}
		}
		return true
	})
}

// backupStats sums the nodes' backup counters.
func (c *cluster) backupStats() store.BackupStats {
	var sum store.BackupStats
	for _, n := range c.nodes() {
		s := n.Stats().Backup
		sum.Pending += s.Pending
		sum.Queued += s.Queued
		sum.Written += s.Written
		sum.Deleted += s.Deleted
		sum.Failed += s.Failed
		sum.Dropped += s.Dropped
		sum.Restored += s.Restored
	}
	return sum
}

// names returns prefix-1 ... prefix-n.
func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i+1)
	}
	return out
}

// parallel runs fn for every item on workers goroutines; fn gets a worker
// index to pick a node with.
func parallel[T any](items []T, workers int, fn func(worker int, item T)) {
	ch := make(chan T)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for it := range ch {
				fn(w, it)
			}
		})
	}
	for _, it := range items {
		ch <- it
	}
	close(ch)
	wg.Wait()
}

// commitAll commits every token's value through the nodes in turn and
// fails the test on any error.
func commitAll(t testing.TB, c nodeSet, values map[string]string, expiry time.Time) {
	t.Helper()
	nodes := c.nodes()
	toks := make([]string, 0, len(values))
	for tok := range values {
		toks = append(toks, tok)
	}
	var failed atomic.Int64
	parallel(toks, 16, func(w int, tok string) {
		n := nodes[w%len(nodes)]
		if err := n.Commit(tok, []byte(values[tok]), expiry); err != nil {
			if failed.Add(1) <= 5 {
				t.Errorf("Commit(%s) via %s = %v", tok, n.Name(), err)
			}
		}
	})
	if f := failed.Load(); f > 0 {
		t.Fatalf("%d of %d commits failed", f, len(values))
	}
}

// findAll reads every token through the nodes in turn. A missing session
// maps to "" (no session is committed with an empty value here); a read
// error fails the test.
func findAll(t testing.TB, c nodeSet, toks []string) map[string]string {
	t.Helper()
	nodes := c.nodes()
	var mu sync.Mutex
	got := make(map[string]string, len(toks))
	var failed atomic.Int64
	parallel(toks, 8, func(w int, tok string) {
		n := nodes[w%len(nodes)]
		v, ok, err := n.FindCtx(context.Background(), tok)
		if err != nil {
			if failed.Add(1) <= 5 {
				t.Errorf("Find(%s) via %s = %v", tok, n.Name(), err)
			}
			return
		}
		if !ok && v != nil {
			t.Errorf("Find(%s) = (%q, false), want nil data when not found", tok, v)
		}
		mu.Lock()
		got[tok] = string(v)
		mu.Unlock()
	})
	if f := failed.Load(); f > 0 {
		t.Fatalf("%d of %d reads failed", f, len(toks))
	}
	return got
}

// checkValues fails the test unless every token reads back as want.
func checkValues(t testing.TB, c nodeSet, want map[string]string) {
	t.Helper()
	toks := make([]string, 0, len(want))
	for tok := range want {
		toks = append(toks, tok)
	}
	got := findAll(t, c, toks)
	bad := 0
	for _, tok := range toks {
		if got[tok] != want[tok] {
			if bad < 5 {
				t.Errorf("Find(%s) after restart = %q, want %q", tok, got[tok], want[tok])
			}
			bad++
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d sessions lost or wrong after a full restart", bad, len(want))
	}
}
