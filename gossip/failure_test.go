package gossip_test

import (
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/gossip"
	"github.com/e5b1d45c/sessring/internal/testkit"
)

// trio starts a, b and c (c on 127.0.0.13:7946) and waits for them to meet.
func trio(t *testing.T, c *cluster) (a, b, cc *gossip.Cluster) {
	t.Helper()
	a = c.mustStart("127.0.0.11", 7946, fastConfig(t, "a"))
	b = c.mustStart("127.0.0.12", 7946, fastConfig(t, "b", seedAddr))
	cc = c.mustStart("127.0.0.13", 7946, fastConfig(t, "c", seedAddr))
	waitMembers(t, 3*time.Second, "a,b,c", a, b, cc)
	return a, b, cc
}

// restarted is c's config for a new process: same name, new incarnation.
func restarted(t *testing.T) gossip.Config {
	cfg := fastConfig(t, "c", seedAddr)
	cfg.Meta.Incarnation = 2
	return cfg
}

// waitIncarnation waits until every node sees c with incarnation inc at
// addr.
func waitIncarnation(t *testing.T, inc uint64, addr string, nodes ...*gossip.Cluster) {
	t.Helper()
	testkit.Eventually(t, 3*time.Second, "c's new incarnation everywhere", func() bool {
		for _, g := range nodes {
			if m, ok := member(g, "c"); !ok || m.Meta.Incarnation != inc || m.Addr != addr {
				return false
			}
		}
		return true
	})
}

func TestCrashDetectedThenRestart(t *testing.T) {
	c := newCluster(t)
	a, b, old := trio(t, c)

	start := time.Now()
	c.net.Crash("127.0.0.13")
	_ = old.Close() // the killed process is gone
	waitMembers(t, 3*time.Second, "a,b", a, b)
	t.Logf("crash detected by all in %v", time.Since(start))

	c.net.Revive("127.0.0.13")
	start = time.Now()
	n := c.mustStart("127.0.0.13", 7946, restarted(t))
	waitIncarnation(t, 2, "127.0.0.13:7946", a, b, n)
	t.Logf("restart at the same address seen by all in %v", time.Since(start))
}

func TestRestartAtNewAddress(t *testing.T) {
	c := newCluster(t)
	a, b, old := trio(t, c)
	c.net.Crash("127.0.0.13")
	_ = old.Close()

	// The new process comes up elsewhere before the old one is declared
	// dead; New waits until the name is released.
	start := time.Now()
	n := c.mustStart("127.0.0.23", 7946, restarted(t))
	t.Logf("New at a new address returned after %v", time.Since(start))
	waitIncarnation(t, 2, "127.0.0.23:7946", a, b, n)
	t.Logf("restart at a new address seen by all in %v", time.Since(start))
}

func TestFastRestartSameAddress(t *testing.T) {
	c := newCluster(t)
	a, b, old := trio(t, c)
	// Killed and restarted before anyone noticed: the old state is still
	// alive in the others' lists and the new process refutes it.
	_ = old.Close()
	start := time.Now()
	n := c.mustStart("127.0.0.13", 7946, restarted(t))
	waitIncarnation(t, 2, "127.0.0.13:7946", a, b, n)
	t.Logf("fast restart seen by all in %v", time.Since(start))
}

func TestPartitionThenRejoin(t *testing.T) {
	c := newCluster(t)
	a, b, cc := trio(t, c)

	c.net.Isolate("127.0.0.13")
	waitMembers(t, 3*time.Second, "a,b", a, b)
	waitMembers(t, 3*time.Second, "c", cc)

	c.net.Heal()
	if n, err := cc.Join([]string{seedAddr}); n != 1 || err != nil {
		t.Fatalf("Join(%s) after heal = %d, %v, want 1, nil", seedAddr, n, err)
	}
	waitMembers(t, 3*time.Second, "a,b,c", a, b, cc)
}

func TestGossipUnderLossAndDelay(t *testing.T) {
	c := newCluster(t)
	c.net.SetDropRate(0.05)
	c.net.SetDelay(2*time.Millisecond, 3*time.Millisecond)
	// The question is whether loss alone breaks the view, not whether a
	// race-enabled process on a loaded machine answers within 25 ms: the
	// failure detector gets the tolerance of the store's test clusters.
	tolerant := func(name string, seeds ...string) gossip.Config {
		cfg := fastConfig(t, name, seeds...)
		tm := testkit.InMemory()
		cfg.ProbeInterval, cfg.ProbeTimeout = tm.ProbeInterval, tm.ProbeTimeout
		cfg.SuspicionMult = tm.SuspicionMult + 1 // and one more round: loss delays acks
		return cfg
	}
	a := c.mustStart("127.0.0.11", 7946, tolerant("a"))
	b := c.mustStart("127.0.0.12", 7946, tolerant("b", seedAddr))
	cc := c.mustStart("127.0.0.13", 7946, tolerant("c", seedAddr))
	waitMembers(t, 3*time.Second, "a,b,c", a, b, cc)
	holds(t, 500*time.Millisecond, "a stable 3-node view under 5% loss", func() bool {
		return names(a.Members()) == "a,b,c" && names(b.Members()) == "a,b,c" && names(cc.Members()) == "a,b,c"
	})
}
