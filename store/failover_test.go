package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/internal/testkit"
	"github.com/e5b1d45c/sessring/internal/wire"
)

// TestCrashThenSecondCrash writes 10k sessions, kills a node abruptly, checks
// every session is readable, waits for re-replication (without any reads
// driving it), kills a second node and checks again. With N=3 the last
// survivor is a minority and serves once LostMemberTTL has passed.
func TestCrashThenSecondCrash(t *testing.T) {
	for _, size := range []int{3, 5} {
		t.Run(fmt.Sprintf("N=%d", size), func(t *testing.T) {
			c := newTestCluster(t, size)
			acked := writeMany(t, c, "crash", 10000)
			c.Crash("node-02")
			checkAll(t, c, acked)
			c.WaitConverged()
			c.Crash(fmt.Sprintf("node-%02d", size))
			checkAll(t, c, acked)
		})
	}
}

// TestReReplicationWithoutTraffic checks that after a crash the surviving
// copies are re-copied to new replicas actively: no reads or writes run
// between the crash and the second crash.
func TestReReplicationWithoutTraffic(t *testing.T) {
	c := newTestCluster(t, 4)
	acked := writeMany(t, c, "rr", 3000)
	c.Crash("node-01")
	c.WaitConverged()
	c.Crash("node-03")
	c.WaitConverged()
	checkAll(t, c, acked)
}

// traffic runs writers that keep updating sessions through random nodes and
// records every acknowledged value.
type traffic struct {
	mu    sync.Mutex
	acked map[string]string
	// maybe holds values whose write failed after the last acknowledged
	// one: a failed write may still have taken effect.
	maybe  map[string][]string
	errors atomic.Int64
	stop   chan struct{}
	wg     sync.WaitGroup
}

func startTraffic(t *testing.T, c *testCluster, writers int) *traffic {
	tr := &traffic{acked: map[string]string{}, maybe: map[string][]string{}, stop: make(chan struct{})}
	for w := range writers {
		tr.wg.Add(1)
		go func() {
			defer tr.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-tr.stop:
					return
				default:
				}
				nodes := c.Nodes()
				n := nodes[(w+i)%len(nodes)]
				tok := fmt.Sprintf("live-%d-%d", w, i%200)
				val := fmt.Sprintf("%d", i)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				err := n.CommitCtx(ctx, tok, []byte(val), time.Now().Add(time.Hour))
				cancel()
				if err != nil {
					tr.mu.Lock()
					tr.maybe[tok] = append(tr.maybe[tok], val)
					tr.mu.Unlock()
				}
				if errors.Is(err, ErrClosed) {
					continue // the client's own app server was the one killed
				}
				if err != nil {
					if tr.errors.Add(1) < 5 {
						t.Logf("Commit(%s) via %s = %v", tok, n.Name(), err)
					}
					continue
				}
				tr.mu.Lock()
				tr.acked[tok] = val
				delete(tr.maybe, tok)
				tr.mu.Unlock()
			}
		}()
	}
	return tr
}

func (tr *traffic) finish() map[string]string {
	close(tr.stop)
	tr.wg.Wait()
	return tr.acked
}

// check verifies every acknowledged session holds its last acknowledged
// value or a value whose write was attempted after it (outcome unknown).
func (tr *traffic) check(t *testing.T, c *testCluster) {
	t.Helper()
	n := c.Nodes()[0]
	bad := 0
	for tok, want := range tr.acked {
		got, ok, err := n.Find(tok)
		if err == nil && ok && (string(got) == want || slices.Contains(tr.maybe[tok], string(got))) {
			continue
		}
		if bad++; bad <= 5 {
			t.Errorf("Find(%s) = %q, %v, %v; want %q (or one of %q)", tok, got, ok, err, want, tr.maybe[tok])
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d acknowledged sessions lost or wrong", bad, len(tr.acked))
	}
}

func TestJoinUnderTraffic(t *testing.T) {
	c := newTestCluster(t, 3)
	base := writeMany(t, c, "base", 5000)
	tr := startTraffic(t, c, 4)
	time.Sleep(200 * time.Millisecond) // let traffic run before the join
	c.Add()
	c.Add()
	c.WaitConverged()
	tr.finish()
	if e := tr.errors.Load(); e > 0 {
		t.Errorf("%d writes failed while two nodes joined, want 0", e)
	}
	checkAll(t, c, base)
	tr.check(t, c)
}

func TestGracefulLeaveUnderTraffic(t *testing.T) {
	c := newTestCluster(t, 4)
	base := writeMany(t, c, "base", 5000)
	tr := startTraffic(t, c, 4)
	time.Sleep(200 * time.Millisecond)
	c.Leave("node-02")
	c.WaitConverged()
	time.Sleep(200 * time.Millisecond)
	tr.finish()
	if e := tr.errors.Load(); e > 0 {
		t.Errorf("%d writes failed while a node left gracefully, want 0", e)
	}
	checkAll(t, c, base)
	tr.check(t, c)
}

func TestCrashUnderTraffic(t *testing.T) {
	c := newTestCluster(t, 5)
	tr := startTraffic(t, c, 4)
	time.Sleep(200 * time.Millisecond)
	c.Crash("node-03")
	c.WaitConverged()
	time.Sleep(200 * time.Millisecond)
	tr.finish()
	if e := tr.errors.Load(); e > 0 {
		t.Errorf("%d writes through surviving nodes failed during the crash, want 0", e)
	}
	tr.check(t, c)
}

func TestRestartSameName(t *testing.T) {
	c := newTestCluster(t, 3)
	acked := writeMany(t, c, "rs", 3000)
	c.Crash("node-02")
	// Restart under the same name and address before or after detection:
	// it must refill from its peers, never answer from an empty memory.
	c.StartAt("node-02", "127.0.0.12")
	checkAll(t, c, acked)
	c.WaitConverged()
	checkAll(t, c, acked)
}

func TestAntiEntropyRepairsReplica(t *testing.T) {
	c := newTestCluster(t, 3)
	n := c.Nodes()[0]
	if err := n.Commit("repairme", []byte("v1"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	_, replica := n.Locate("repairme")
	r := c.Node(replica)
	p := r.partitionOf("repairme")
	r.parts[p].remove("repairme", r.parts[p].get("repairme"), &r.used) // lose the replica copy
	testkit.Eventually(t, 10*time.Second, "anti-entropy repaired the replica", func() bool {
		e := r.parts[p].get("repairme")
		return e != nil && string(e.value) == "v1"
	})
}

// TestJoinHandBackIsPaged: a joiner takes over partitions whose previous
// owners hand their sessions back with the first read lease. Handed back
// in one reply that could exceed the peer frame limit (a joiner taking a
// large share of 100k sessions), so at cluster version 2 the reply is
// paged: here pages of 16 KiB for 2000 sessions of 1 KiB. The joiner gets
// every page, then its lease, and every session reads back.
func TestJoinHandBackIsPaged(t *testing.T) {
	c := newTestClusterWith(t, 3, func(cfg *Config) { cfg.leasePageBytes = 16 << 10 })
	val := strings.Repeat("x", 1024)
	acked := map[string]string{}
	n := c.Nodes()[0]
	for i := range 2000 {
		tok := fmt.Sprintf("page-%05d", i)
		if err := n.Commit(tok, []byte(val+tok), time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		acked[tok] = val + tok
	}
	joiner := c.Add()
	c.WaitConverged()
	pages := uint64(0)
	for _, m := range c.Nodes() {
		pages += m.stats.leasePages.Load()
	}
	if pages == 0 {
		t.Errorf("no lease reply was paged; want the hand-back split into pages of 16 KiB")
	}
	var owned []string
	for tok := range acked {
		if o, _ := joiner.Locate(tok); o == joiner.Name() {
			owned = append(owned, tok)
		}
	}
	testkit.Eventually(t, 10*time.Second, "the joiner serves its sessions from memory (read lease held)", func() bool {
		for _, tok := range owned {
			if _, ok := joiner.localFastRead(tok); !ok {
				return false
			}
		}
		return len(owned) > 0
	})
	checkAll(t, c, acked)
}

// TestHandBackPageLostIsSentAgain drives serveLease by hand: a page whose
// acknowledgement does not come (the reply was lost) is sent again, and the
// owner is told there is more until it has acknowledged every page, so a
// lost page cannot leave it serving without the sessions it carried.
func TestHandBackPageLostIsSentAgain(t *testing.T) {
	c := newTestClusterWith(t, 3, func(cfg *Config) { cfg.leasePageBytes = 4 << 10 })
	a := c.Node("node-01")
	v := a.view.Load()
	var owner string
	for o, ps := range v.replicaOf {
		if o != a.Name() && len(ps) > 0 {
			owner = o
			break
		}
	}
	// Sessions owned by owner, replicated here, in partitions then marked
	// as owned here meanwhile.
	want := map[string]bool{}
	val := strings.Repeat("y", 1024)
	for len(want) < 40 {
		tok, err := a.NewToken(false)
		if err != nil {
			t.Fatal(err)
		}
		if o, r := a.Locate(tok); o != owner || r != a.Name() {
			continue
		}
		if err := a.Commit(tok, []byte(val), time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		want[tok] = true
	}
	// The owner stops asking for leases of its own, so only this test
	// takes the flags.
	c.Crash(owner)
	for tok := range want {
		a.parts[a.partitionOf(tok)].demoted.Store(true)
	}
	ask := func(ack bool) (got []tokenEntry, more bool) {
		t.Helper()
		var enc wire.Encoder
		enc.Bool(true)
		enc.Bool(ack)
		resp, err := a.serveLease(v, header{owner, v.id()}, wire.NewDecoder(enc.B))
		if err != nil {
			t.Fatal(err)
		}
		d := wire.NewDecoder(resp)
		if got, err = decodeEntries(d); err != nil {
			t.Fatal(err)
		}
		return got, d.Bool()
	}
	first, more := ask(false)
	if !more || len(first) == 0 || len(first) >= len(want) {
		t.Fatalf("first page: %d sessions, more %v; want some of the %d, and more", len(first), more, len(want))
	}
	again, _ := ask(false) // the first reply was lost: a new round starts
	if len(again) != len(first) || again[0].token != first[0].token {
		t.Fatalf("after a lost page the next round sent %d sessions starting %v, want the lost %d again", len(again), again[0].token, len(first))
	}
	seen := map[string]bool{}
	for _, te := range again {
		seen[te.token] = true
	}
	for pages := 0; more; pages++ {
		if pages > len(want) {
			t.Fatal("pages never end")
		}
		var page []tokenEntry
		page, more = ask(true)
		for _, te := range page {
			seen[te.token] = true
		}
	}
	for tok := range want {
		if !seen[tok] {
			t.Errorf("session %s was never handed back", tok)
		}
	}
}
