package store

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/internal/testkit"
	"github.com/e5b1d45c/sessring/placement"
	"github.com/e5b1d45c/sessring/store/internal/locktable"
)

func TestLeaseTableAbandon(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, lt *lockTable)
	}{
		{"abandoning a granted request frees the lock", func(t *testing.T, lt *lockTable) {
			if _, err := lt.acquire(ctx, "s", time.Minute, 7); err != nil {
				t.Fatal(err)
			}
			lt.abandon("s", 7, now)
			short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			defer cancel()
			if _, err := lt.acquire(short, "s", time.Minute, 8); err != nil {
				t.Fatalf("acquire after the holder was abandoned = %v, want the lock", err)
			}
		}},
		{"a request abandoned before it arrives is refused", func(t *testing.T, lt *lockTable) {
			lt.abandon("s", 7, now)
			if _, err := lt.acquire(ctx, "s", time.Minute, 7); !errors.Is(err, ErrLocked) {
				t.Fatalf("late acquire of an abandoned request = %v, want ErrLocked", err)
			}
			if _, err := lt.acquire(ctx, "s", time.Minute, 9); err != nil {
				t.Fatalf("another request = %v, want the lock", err)
			}
		}},
		{"abandoning another request keeps the holder's lock", func(t *testing.T, lt *lockTable) {
			id, _ := lt.acquire(ctx, "s", time.Minute, 7)
			lt.abandon("s", 8, now)
			if err := lt.check("s", id); err != nil {
				t.Fatalf("check after an unrelated abandon = %v, want held", err)
			}
		}},
		{"a second attempt of the holder gets its lease", func(t *testing.T, lt *lockTable) {
			id, _ := lt.acquire(ctx, "s", time.Minute, 7)
			short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			defer cancel()
			again, err := lt.acquire(short, "s", time.Minute, 7)
			if err != nil || again != id {
				t.Fatalf("second attempt = %d, %v; want lease %d", again, err, id)
			}
		}},
		{"anonymous requests are never abandoned", func(t *testing.T, lt *lockTable) {
			lt.abandon("s", 0, now)
			if _, err := lt.acquire(ctx, "s", time.Minute, 0); err != nil {
				t.Fatalf("anonymous acquire = %v", err)
			}
		}},
		{"abandoned nonces are forgotten after locktable.AbandonMemory", func(t *testing.T, lt *lockTable) {
			lt.abandon("s", 7, now)
			lt.sweep(now.Add(locktable.AbandonMemory + time.Second))
			if _, left := lt.t.Len(); left != 0 {
				t.Fatalf("%d abandoned nonces left after sweep, want 0", left)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newLockTable(time.Now)) })
	}
}

// A lock request held up in a connection by a one-way cut reaches the
// owner when the cut heals, after its caller gave up: it must not hold the
// session locked for its ttl on behalf of nobody.
func TestLockDeliveredAfterCallerGaveUp(t *testing.T) {
	c := newTestCluster(t, 3)
	ctx := context.Background()
	const token = "late-lock"
	ownerName, _ := c.Nodes()[0].Locate(token)
	var caller, other *Node
	for _, n := range c.Nodes() {
		switch {
		case n.Name() == ownerName:
		case caller == nil:
			caller = n
		default:
			other = n
		}
	}
	// An established connection from the caller to the owner, whose
	// data the cut will hold up.
	if err := caller.Commit(token, []byte("v"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	ips := c.IPs()
	c.Net.Block(ips[caller.Name()], ips[ownerName])
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err := caller.Lock(short, token, 30*time.Second)
	cancel()
	if err == nil {
		t.Fatalf("Lock across a one-way cut succeeded")
	}
	c.Net.Heal()
	wait, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := other.Lock(wait, token, time.Second); err != nil {
		t.Fatalf("Lock after the cut healed = %v, want the lock (the late request's caller gave up)", err)
	}
}

// TestLeaseDroppedWhenOwnershipMoves: a session locked at its owner moves
// to a node that joins, and back when that node leaves. The lease left at
// the first owner must not block the session for the rest of its ttl.
func TestLeaseDroppedWhenOwnershipMoves(t *testing.T) {
	c := newTestCluster(t, 2)
	first := c.Node("node-01")
	two := placement.New([]string{"node-01", "node-02"}, 2048)
	three := placement.New([]string{"node-01", "node-02", "node-03"}, 2048)
	tok := tokenWhere(t, first, func(cand string) bool {
		return two.OwnerOf(cand) == "node-01" && three.OwnerOf(cand) == "node-03"
	})
	ctx := context.Background()
	if _, err := first.Lock(ctx, tok, time.Minute); err != nil {
		t.Fatal(err)
	}
	c.Add() // node-03 joins and owns tok
	c.WaitConverged()
	c.Leave("node-03") // tok is back at node-01
	c.WaitConverged()
	wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if _, err := first.Lock(wctx, tok, time.Minute); err != nil {
		t.Fatalf("Lock after the session's ownership moved away and back = %v, want the lease: none is held", err)
	}
}

// TestLeaseTableWaiterLosesOwnership: a lock request waiting at the owner
// while the session moves to another node is not granted a lease when
// dropUnless frees the session: it gets the grantable check's error.
func TestLeaseTableWaiterLosesOwnership(t *testing.T) {
	lt := newLockTable(time.Now)
	ctx := context.Background()
	if _, err := lt.acquire(ctx, "s", time.Minute, 1); err != nil {
		t.Fatal(err)
	}
	var owner atomic.Bool
	owner.Store(true)
	stillOwner := func() error {
		if !owner.Load() {
			return errNotOwner
		}
		return nil
	}
	got := make(chan error, 1)
	go func() {
		_, err := lt.acquireIf(ctx, "s", time.Minute, 2, stillOwner)
		got <- err
	}()
	// Whether the waiter is already blocked on the held lease or arrives
	// after the move, it must not be granted one.
	owner.Store(false)
	lt.dropUnless(func(string) bool { return false })
	select {
	case err := <-got:
		if !errors.Is(err, errNotOwner) {
			t.Errorf("waiter after the session moved away: error = %v, want errNotOwner", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiter was not woken when its session moved away")
	}
	lt.mu.Lock()
	defer lt.mu.Unlock()
	if l := lt.t.Lease("s"); l != nil {
		t.Errorf("a lease (nonce %d) was granted at a node that no longer owns the session", l.Nonce)
	}
}

// TestLeaseDroppedAfterCutOff: the owner grants a lock, is cut off from the
// majority long enough for the others to take the session over, and the
// holder's Unlock goes to the interim owner. When the old owner is back
// and owns the session again, the lease it granted before is gone: the
// next Lock is granted at once, not after the lease's ttl. (A paused
// process that wakes is the same case: TestMultiHostPausedOwner in
// examples/node.)
func TestLeaseDroppedAfterCutOff(t *testing.T) {
	c := newTestCluster(t, 3)
	first, second := c.Node("node-01"), c.Node("node-02")
	three := placement.New([]string{"node-01", "node-02", "node-03"}, 2048)
	tok := tokenWhere(t, first, func(cand string) bool { return three.OwnerOf(cand) == "node-01" })
	ctx := context.Background()
	lease, err := second.Lock(ctx, tok, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	ips := c.IPs()
	c.Net.Partition([]string{ips["node-01"]}, []string{ips["node-02"], ips["node-03"]})
	testkit.Eventually(t, 20*time.Second, "node-02 sees node-01 gone", func() bool {
		return len(second.Stats().Members) == 2
	})
	if err := second.Unlock(ctx, tok, lease); err != nil {
		t.Fatalf("Unlock at the interim owner = %v", err)
	}
	c.Net.Heal()
	c.WaitConverged()
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := second.Lock(wctx, tok, time.Minute); err != nil {
		t.Fatalf("Lock after the owner came back = %v, want the lease: the one it granted before was released", err)
	}
}

// tokenWhere returns a new token of n's for which want holds.
func tokenWhere(t *testing.T, n *Node, want func(token string) bool) string {
	t.Helper()
	for {
		cand, err := n.NewToken(false)
		if err != nil {
			t.Fatal(err)
		}
		if want(cand) {
			return cand
		}
	}
}
