package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/internal/testkit"
)

// TestSplitHeal cuts a 5-node cluster 3|2, changes and deletes sessions on
// the majority side, heals, and checks that no node serves the small side's
// stale copies once it sees the whole cluster, that a deleted session stays
// deleted, and that a write through the returning owner builds on the
// majority's version and survives. Before resync.go, the returning owner
// served its pre-partition copy, and an acknowledged write built on it was
// lost when the majority's copies met it (first seen by the
// linearizability check).
func TestSplitHeal(t *testing.T) {
	small := []string{"node-04", "node-05"}
	big := []string{"node-01", "node-02", "node-03"}
	onSmall := func(name string) bool { return name == small[0] || name == small[1] }

	// Within LostMemberTTL the small side refuses to serve; the sessions'
	// owners are on the small side, their replicas on the majority side,
	// which takes over at once.
	t.Run("within LostMemberTTL", func(t *testing.T) {
		c := newTestClusterWith(t, 5, func(cfg *Config) { cfg.LostMemberTTL = time.Minute })
		splitHeal(t, c, small, big, func(o, r string) bool { return onSmall(o) && !onSmall(r) })
	})
	// Beyond it both sides carry on alone (a split brain, by design): after
	// healing every session converges to one version everywhere, a deletion
	// the majority made stays, and later writes stick.
	t.Run("beyond LostMemberTTL", func(t *testing.T) {
		splitBrainHeal(t, newTestCluster(t, 5), small, big, onSmall)
	})
}

func splitBrainHeal(t *testing.T, c *testCluster, small, big []string, onSmall func(string) bool) {
	n1, n4 := c.Node(big[0]), c.Node(small[0])
	// conflict has both holders on the small side; deleted its owner there
	// and its replica on the majority side.
	conflict, deleted := splitTokens(t, c, small, big,
		func(o, r string) bool { return onSmall(o) && onSmall(r) },
		func(o, r string) bool { return onSmall(o) && !onSmall(r) })
	expiry := time.Now().Add(time.Hour)
	testkit.Eventually(t, 20*time.Second, "the majority to accept writes", func() bool {
		return n1.Commit(conflict, []byte("majority"), expiry) == nil
	})
	if err := n1.Delete(deleted); err != nil {
		t.Fatalf("Delete on the majority side = %v", err)
	}
	testkit.Eventually(t, 20*time.Second, "the small side to accept writes", func() bool {
		return n4.Commit(conflict, []byte("small"), expiry) == nil
	})
	c.Net.Heal()
	c.WaitConverged()
	var agreed string
	for _, n := range c.Nodes() {
		got, ok, err := n.Find(conflict)
		if err != nil || !ok || (string(got) != "majority" && string(got) != "small") {
			t.Errorf("Find(conflict) via %s = %q, %v, %v; want one side's value", n.Name(), got, ok, err)
		}
		if agreed == "" {
			agreed = string(got)
		} else if string(got) != agreed {
			t.Errorf("Find(conflict) via %s = %q, via others %q: not converged", n.Name(), got, agreed)
		}
		if got, ok, err := n.Find(deleted); err != nil || ok {
			t.Errorf("Find(deleted) via %s = %q, %v, %v: the majority's deletion was undone", n.Name(), got, ok, err)
		}
	}
	t.Logf("the split brain's conflicting writes converged to %q", agreed)
	if err := n4.Commit(conflict, []byte("after"), expiry); err != nil {
		t.Fatalf("Commit after heal = %v", err)
	}
	checkAfterOrphansGone(t, c, conflict, "after")
}

func splitHeal(t *testing.T, c *testCluster, small, big []string, pick func(owner, replica string) bool) {
	n1 := c.Node(big[0])
	changed, deleted := splitTokens(t, c, small, big, pick, pick)
	expiry := time.Now().Add(time.Hour)
	testkit.Eventually(t, 20*time.Second, "the majority to drop the small side", func() bool {
		for _, name := range big {
			if len(c.Node(name).Stats().Members) != 3 {
				return false
			}
		}
		return true
	})
	testkit.Eventually(t, 20*time.Second, "the majority to accept writes", func() bool {
		return n1.Commit(changed, []byte("majority"), expiry) == nil
	})
	if err := n1.Delete(deleted); err != nil {
		t.Fatalf("Delete on the majority side = %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	if _, _, err := c.Node(small[0]).FindCtx(ctx, changed); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Find on the small side = %v, want ErrUnavailable", err)
	}
	cancel()

	c.Net.Heal()
	// From the heal on, every node must serve the majority's state or
	// nothing.
	check := func(when string, n *Node) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		got, ok, err := n.FindCtx(ctx, changed)
		if err == nil && (!ok || string(got) != "majority") {
			t.Errorf("%s: Find via %s = %q, %v; want %q", when, n.Name(), got, ok, "majority")
		}
		got, ok, err = n.FindCtx(ctx, deleted)
		if err == nil && ok {
			t.Errorf("%s: deleted session came back via %s: %q", when, n.Name(), got)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for !t.Failed() {
		for _, n := range c.Nodes() {
			check("while healing", n)
		}
		if s := c.Node(small[0]).Stats(); len(s.Members) == 5 && s.PartitionsPending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the small side did not rejoin")
		}
	}
	c.WaitConverged()
	for _, n := range c.Nodes() {
		check("after healing", n)
	}
	for _, name := range small {
		if r := c.Node(name).Stats().Resyncs; r == 0 {
			t.Errorf("%s: Resyncs = 0, want at least 1 after being cut off", name)
		}
	}

	// A write through the returning owner builds on the majority's version
	// and stays after the former interim holders' copies are gone.
	owner, _ := n1.Locate(changed)
	if err := c.Node(owner).Commit(changed, []byte("after"), expiry); err != nil {
		t.Fatalf("Commit via %s after heal = %v", owner, err)
	}
	checkAfterOrphansGone(t, c, changed, "after")
}

// splitTokens commits "before" to two new sessions whose holders satisfy
// first and second, then cuts the cluster between small and big.
func splitTokens(t *testing.T, c *testCluster, small, big []string, first, second func(owner, replica string) bool) (string, string) {
	t.Helper()
	n1 := c.Node(big[0])
	var a, b string
	for a == "" || b == "" {
		tok, err := n1.NewToken(false)
		if err != nil {
			t.Fatal(err)
		}
		o, r := n1.Locate(tok)
		switch {
		case a == "" && first(o, r):
			a = tok
		case b == "" && second(o, r):
			b = tok
		}
	}
	for _, tok := range []string{a, b} {
		if err := n1.Commit(tok, []byte("before"), time.Now().Add(time.Hour)); err != nil {
			t.Fatalf("Commit(%s) = %v", shortToken(tok), err)
		}
	}
	ips := c.IPs()
	c.Net.Partition([]string{ips[big[0]], ips[big[1]], ips[big[2]]}, []string{ips[small[0]], ips[small[1]]})
	return a, b
}

// checkAfterOrphansGone waits until no node keeps orphaned copies (the
// former interim holders' among them) and checks tok reads want everywhere.
func checkAfterOrphansGone(t *testing.T, c *testCluster, tok, want string) {
	t.Helper()
	testkit.Eventually(t, 10*time.Second, "orphaned copies dropped", func() bool {
		for _, n := range c.Nodes() {
			if n.Stats().OrphanSessions != 0 {
				return false
			}
		}
		return true
	})
	for _, n := range c.Nodes() {
		if got, ok, err := n.Find(tok); err != nil || !ok || string(got) != want {
			t.Errorf("Find via %s at the end = %q, %v, %v; want %q", n.Name(), got, ok, err, want)
		}
	}
}
