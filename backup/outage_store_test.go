package backup_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/backup"
	"github.com/e5b1d45c/sessring/internal/memcachedtest"
	"github.com/e5b1d45c/sessring/internal/testkit"
	"github.com/e5b1d45c/sessring/store"
)

// traffic is steady session traffic: each worker rewrites its own sessions
// in rounds through the nodes in turn, reads each write back through the
// next node, and opens a new session every round. Every failed or wrong
// answer is an error.
type traffic struct {
	t      testing.TB
	stop   chan struct{}
	wg     sync.WaitGroup
	rounds []atomic.Int64 // completed rounds per worker
	ops    atomic.Int64   // successful commits
	errs   atomic.Int64

	// mu guards latest.
	mu     sync.Mutex
	latest map[string]ack // token -> last acknowledged write
}

// ack is an acknowledged write.
type ack struct {
	val string
	at  time.Time
}

func startTraffic(t testing.TB, c *cluster, workers, sessions int) *traffic {
	tr := &traffic{t: t, stop: make(chan struct{}), rounds: make([]atomic.Int64, workers), latest: map[string]ack{}}
	nodes := c.nodes()
	for w := range workers {
		tr.wg.Go(func() { tr.worker(nodes, w, sessions) })
	}
	t.Cleanup(func() { tr.halt() })
	return tr
}

func (tr *traffic) worker(nodes []*store.Node, w, sessions int) {
	mine := make(map[string]ack)
	defer func() {
		tr.mu.Lock()
		maps.Copy(tr.latest, mine)
		tr.mu.Unlock()
	}()
	for round := 0; ; round++ {
		toks := make([]string, 0, sessions+1)
		for i := range sessions {
			toks = append(toks, fmt.Sprintf("w%d-s%03d", w, i))
		}
		toks = append(toks, fmt.Sprintf("w%d-new%04d", w, round)) // restore-on-miss path
		for i, tok := range toks {
			select {
			case <-tr.stop:
				return
			default:
			}
			val := fmt.Sprintf("%s-r%d", tok, round)
			if tr.commitAndRead(nodes[(w+i)%len(nodes)], nodes[(w+i+1)%len(nodes)], tok, val) {
				mine[tok] = ack{val, time.Now()}
			}
		}
		tr.rounds[w].Add(1)
	}
}

// commitAndRead writes val through one node, reads it through another and
// reports whether the write was acknowledged.
func (tr *traffic) commitAndRead(wn, rn *store.Node, tok, val string) bool {
	if err := wn.Commit(tok, []byte(val), time.Now().Add(time.Hour)); err != nil {
		tr.fail("Commit(%s) via %s = %v", tok, wn.Name(), err)
		return false
	}
	tr.ops.Add(1)
	got, ok, err := rn.Find(tok)
	if err != nil || !ok || string(got) != val {
		tr.fail("Find(%s) via %s = (%q, %v, %v), want %q", tok, rn.Name(), got, ok, err, val)
	}
	return true
}

func (tr *traffic) fail(format string, args ...any) {
	if tr.errs.Add(1) <= 5 {
		tr.t.Errorf(format, args...)
	}
}

// waitRounds waits until every worker has completed n more rounds.
func (tr *traffic) waitRounds(n int64, timeout time.Duration) {
	tr.t.Helper()
	target := make([]int64, len(tr.rounds))
	for w := range tr.rounds {
		target[w] = tr.rounds[w].Load() + n
	}
	testkit.Eventually(tr.t, timeout, fmt.Sprintf("%d more rounds of traffic", n), func() bool {
		for w := range tr.rounds {
			if tr.rounds[w].Load() < target[w] {
				return false
			}
		}
		return true
	})
}

func (tr *traffic) halt() {
	select {
	case <-tr.stop:
	default:
		close(tr.stop)
	}
	tr.wg.Wait()
}

// finish stops the traffic, fails the test if any request failed and
// returns the last acknowledged value of every session last written after
// since, and how many sessions were last written before.
func (tr *traffic) finish(since time.Time) (latest map[string]string, older int) {
	tr.t.Helper()
	tr.halt()
	if n := tr.errs.Load(); n > 0 {
		tr.t.Fatalf("%d requests failed or read a wrong value", n)
	}
	latest = make(map[string]string)
	for tok, a := range tr.latest {
		if a.at.Before(since) {
			older++
			continue
		}
		latest[tok] = a.val
	}
	return latest, older
}

// TestMemcachedRestartUnderTraffic kills memcached (SIGKILL) under steady
// write-behind traffic and restarts it, empty. No request fails or reads
// a wrong value meanwhile; afterwards the backups written during the
// outage catch up, so a fresh cluster on the same memcached serves the
// latest value of every session written since the kill. (Sessions last
// written before it went with memcached's memory: they are still in the
// cluster, and reach memcached again on their next write.)
func TestMemcachedRestartUnderTraffic(t *testing.T) {
	srv := memcachedtest.Start(t)
	bcfg := backup.Config{SecretKey: clusterKey, Timeout: 200 * time.Millisecond, DownFor: 100 * time.Millisecond}
	c := newCluster(t, []string{srv.Addr}, bcfg, func(cfg *store.Config) {
		cfg.BackupDelay = 100 * time.Millisecond
	})
	c.start(names("a", 3)...)
	tr := startTraffic(t, c, 6, 40)
	tr.waitRounds(1, 30*time.Second)

	srv.Stop()
	killed := time.Now()
	testkit.Eventually(t, 10*time.Second, "a failed backup write", func() bool { return c.backupStats().Failed > 0 })
	tr.waitRounds(2, 60*time.Second) // every session rewritten while memcached is down
	if s := c.backupStats(); s.Pending == 0 {
		t.Fatalf("backup stats during the outage %+v, want a backlog", s)
	}
	srv.Restart()
	// Stop soon, so most sessions reach memcached only from the backlog.
	ops := tr.ops.Load()
	testkit.Eventually(t, 30*time.Second, "traffic after the restart", func() bool { return tr.ops.Load() >= ops+20 })
	latest, older := tr.finish(killed)

	c.waitDrained(60 * time.Second)
	t.Logf("backup stats: %+v; %d sessions written since the kill, %d only before", c.backupStats(), len(latest), older)
	fresh := newCluster(t, []string{srv.Addr}, bcfg, nil) // its own network: a separate cluster
	fresh.start(names("f", 3)...)
	checkValues(t, fresh, latest)
}

// TestWriteThroughMemcachedDown: in write-through mode a write that cannot
// reach memcached fails with store.ErrBackup and changes nothing in the
// cluster; once memcached is back, writes succeed again.
func TestWriteThroughMemcachedDown(t *testing.T) {
	srv := memcachedtest.Start(t)
	const timeout = 200 * time.Millisecond
	bcfg := backup.Config{SecretKey: clusterKey, Timeout: timeout, DownFor: 100 * time.Millisecond}
	c := newCluster(t, []string{srv.Addr}, bcfg, func(cfg *store.Config) {
		cfg.BackupMode = store.WriteThrough
	})
	c.start(names("a", 3)...)
	nodes := c.nodes()
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	// The setup writes need memcached up: on a loaded machine one may
	// miss the 200 ms timeout, which is not what this test is about.
	var err error
	testkit.Eventually(t, 10*time.Second, "the setup writes through to memcached", func() bool {
		if err = nodes[0].Commit("bytes", []byte("v1"), exp); err != nil {
			return false
		}
		_, err = nodes[0].Apply(ctx, "fields", store.Mutation{Set: map[string][]byte{"a": []byte("1")}, Expiry: exp})
		return err == nil
	})
	before := snapshot(t, nodes, "bytes", "fields", "new")

	srv.Stop()
	writes := []struct {
		name string
		do   func(n *store.Node) error
	}{
		{"Commit existing", func(n *store.Node) error { return n.Commit("bytes", []byte("v2"), exp) }},
		{"Commit new", func(n *store.Node) error { return n.Commit("new", []byte("v1"), exp) }},
		{"Delete", func(n *store.Node) error { return n.Delete("bytes") }},
		{"Apply", func(n *store.Node) error {
			_, err := n.Apply(ctx, "fields", store.Mutation{Set: map[string][]byte{"b": []byte("2")}})
			return err
		}},
		{"Apply create", func(n *store.Node) error {
			_, err := n.Apply(ctx, "new", store.Mutation{Create: true, Set: map[string][]byte{"a": []byte("1")}})
			return err
		}},
	}
	for i, w := range writes {
		n := nodes[i%len(nodes)]
		start := time.Now()
		err := w.do(n)
		// Only store's sentinels cross the wire when the owner is another
		// node; the backup's error survives as text.
		if !errors.Is(err, store.ErrBackup) || !strings.Contains(err.Error(), backup.ErrUnavailable.Error()) {
			t.Errorf("%s via %s with memcached down = %v, want store.ErrBackup saying %q", w.name, n.Name(), err, backup.ErrUnavailable)
		}
		if d := time.Since(start); d > 4*timeout+2*time.Second { // slack for a loaded machine
			t.Errorf("%s took %v with memcached down, want about the backup Timeout %v", w.name, d, timeout)
		}
	}
	if after := snapshot(t, nodes, "bytes", "fields", "new"); after != before {
		t.Fatalf("cluster after failed write-through writes:\n%s\nwant it unchanged:\n%s", after, before)
	}

	srv.Restart()
	testkit.Eventually(t, 10*time.Second, "a write once memcached is back", func() bool {
		return nodes[1].Commit("bytes", []byte("v3"), exp) == nil
	})
	c.crashAll()
	c.start(names("b", 2)...)
	checkValues(t, c, map[string]string{"bytes": "v3"})
}

// snapshot describes tokens as every node reads them, and the cluster's
// write counters, which a write that changed nothing leaves alone.
func snapshot(t testing.TB, nodes []*store.Node, tokens ...string) string {
	t.Helper()
	var s string
	for _, n := range nodes {
		for _, tok := range tokens {
			r, ok, err := n.Load(context.Background(), tok)
			if err != nil {
				t.Fatalf("Load(%s) via %s = %v", tok, n.Name(), err)
			}
			s += fmt.Sprintf("%s %s: found=%v version=%d value=%q fields=%q\n", n.Name(), tok, ok, r.Version, r.Value, r.Fields)
		}
		st := n.Stats()
		s += fmt.Sprintf("%s: writes=%d replica writes=%d bytes=%d\n", n.Name(), st.Writes, st.ReplicaWrites, st.BytesHeld)
	}
	return s
}
