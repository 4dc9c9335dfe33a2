package memnet_test

import (
	"io"
	"log"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/e5b1d45c/sessring/internal/memnet"
	"github.com/e5b1d45c/sessring/internal/testkit"
)

// fastConfig tunes memberlist for a quick in-process test.
func fastConfig(name string, tr memberlist.NodeAwareTransport) *memberlist.Config {
	c := memberlist.DefaultLocalConfig()
	c.Name = name
	c.Transport = tr
	c.Logger = log.New(io.Discard, "", 0)
	tm := testkit.Gossip()
	c.ProbeInterval, c.ProbeTimeout = tm.ProbeInterval, tm.ProbeTimeout
	c.GossipInterval, c.PushPullInterval = tm.GossipInterval, tm.PushPullInterval
	c.SuspicionMult = tm.SuspicionMult
	c.GossipToTheDeadTime = 500 * time.Millisecond
	c.TCPTimeout = 500 * time.Millisecond
	return c
}

// startMember creates a memberlist named name on host ip, shut down at
// cleanup.
func startMember(t *testing.T, n *memnet.Network, ip, name string) *memberlist.Memberlist {
	t.Helper()
	tr, err := n.Host(ip).GossipTransport(":0")
	if err != nil {
		t.Fatalf("GossipTransport() error = %v", err)
	}
	m, err := memberlist.Create(fastConfig(name, tr))
	if err != nil {
		t.Fatalf("memberlist.Create(%s) error = %v", name, err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	return m
}

func waitMembers(t *testing.T, what string, want int, ms ...*memberlist.Memberlist) {
	t.Helper()
	testkit.Eventually(t, 5*time.Second, what, func() bool {
		for _, m := range ms {
			if m.NumMembers() != want {
				return false
			}
		}
		return true
	})
}

func TestMemberlistOverMemnet(t *testing.T) {
	testkit.CheckGoroutines(t, 5*time.Second)
	n := memnet.New(1)
	n.SetDelay(time.Millisecond, time.Millisecond)
	n.SetDropRate(0.02)
	a := startMember(t, n, "127.0.0.11", "a")
	b := startMember(t, n, "127.0.0.12", "b")
	c := startMember(t, n, "127.0.0.13", "c")
	seed := a.LocalNode().Address()
	for _, m := range []*memberlist.Memberlist{b, c} {
		testkit.Eventually(t, 2*time.Second, "a join (a dial may be dropped)", func() bool {
			_, err := m.Join([]string{seed})
			return err == nil
		})
	}
	start := time.Now()
	waitMembers(t, "3 members everywhere", 3, a, b, c)
	t.Logf("converged in %v", time.Since(start))

	start = time.Now()
	n.Isolate("127.0.0.13")
	waitMembers(t, "a and b to declare c dead", 2, a, b)
	waitMembers(t, "c to declare a and b dead", 1, c)
	t.Logf("partition detected in %v", time.Since(start))

	// memberlist does not rediscover nodes it declared dead on its own; a
	// node must join again once the network heals.
	n.Heal()
	start = time.Now()
	testkit.Eventually(t, 2*time.Second, "c to rejoin (a dial may be dropped)", func() bool {
		_, err := c.Join([]string{seed})
		return err == nil
	})
	waitMembers(t, "3 members again after heal", 3, a, b, c)
	t.Logf("re-converged in %v", time.Since(start))
	st := n.Stats()
	t.Logf("stats: %+v", st)
	if st.PacketsDropped == 0 || st.Dials == 0 {
		t.Errorf("Stats() = %+v, want some dropped packets and some dials", st)
	}
}
