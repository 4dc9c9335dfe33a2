package gossip_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/gossip"
	"github.com/e5b1d45c/sessring/internal/testkit"
	"github.com/e5b1d45c/sessring/internal/version"
)

const seedAddr = "127.0.0.11:7946"

func TestJoinConverges(t *testing.T) {
	c := newCluster(t)
	c.net.SetDelay(time.Millisecond, time.Millisecond)
	a := c.mustStart("127.0.0.11", 7946, fastConfig(t, "a"))
	nodes := []*gossip.Cluster{a}
	for i, name := range []string{"b", "c", "d", "e"} {
		ip := fmt.Sprintf("127.0.0.%d", 12+i)
		nodes = append(nodes, c.mustStart(ip, 0, fastConfig(t, name, seedAddr)))
	}
	waitMembers(t, 3*time.Second, "a,b,c,d,e", nodes...)

	m, ok := member(nodes[4], "b")
	if want := (gossip.Meta{RPCAddr: "rpc.b:8080", Incarnation: 1, MinVersion: version.Min, MaxVersion: version.Max}); !ok || m.Meta != want || m.Addr != "127.0.0.12:10000" {
		t.Errorf("e sees b as %+v (found %v), want addr 127.0.0.12:10000 and meta %+v", m, ok, want)
	}
	if self := nodes[2].Self(); self.Name != "c" || self.Addr != "127.0.0.13:10000" || self.Meta.RPCAddr != "rpc.c:8080" {
		t.Errorf("c.Self() = %+v, want c at 127.0.0.13:10000 with rpc.c:8080", self)
	}
}

func TestJoinWaitsForLateSeed(t *testing.T) {
	c := newCluster(t)
	type res struct {
		g   *gossip.Cluster
		err error
	}
	done := make(chan res, 1)
	go func() {
		g, err := c.start("127.0.0.12", 0, fastConfig(t, "b", seedAddr))
		done <- res{g, err}
	}()
	testkit.Eventually(t, 2*time.Second, "b to retry the missing seed", func() bool {
		return c.net.Stats().DialsFailed >= 3
	})
	a := c.mustStart("127.0.0.11", 7946, fastConfig(t, "a"))
	r := <-done
	if r.err != nil {
		t.Fatalf("New(b) with a late seed error = %v, want nil", r.err)
	}
	waitMembers(t, 3*time.Second, "a,b", a, r.g)
}

func TestJoinTimeout(t *testing.T) {
	c := newCluster(t)
	cfg := fastConfig(t, "b", seedAddr)
	cfg.JoinTimeout = 200 * time.Millisecond
	start := time.Now()
	_, err := c.start("127.0.0.12", 7946, cfg)
	took := time.Since(start)
	if !errors.Is(err, gossip.ErrJoin) {
		t.Fatalf("New() with no seed up error = %v, want ErrJoin", err)
	}
	if took < 200*time.Millisecond || took > time.Second {
		t.Errorf("New() gave up after %v, want about JoinTimeout (200ms)", took)
	}
	// New undid what it started: the gossip port is free again.
	c.mustStart("127.0.0.12", 7946, fastConfig(t, "b"))
}

func TestExtraJoin(t *testing.T) {
	c := newCluster(t)
	a := c.mustStart("127.0.0.11", 7946, fastConfig(t, "a"))
	b := c.mustStart("127.0.0.12", 0, fastConfig(t, "b"))
	if n, err := b.Join([]string{seedAddr}); n != 1 || err != nil {
		t.Fatalf("Join(%s) = %d, %v, want 1, nil", seedAddr, n, err)
	}
	waitMembers(t, 3*time.Second, "a,b", a, b)
	if n, err := b.Join([]string{"127.0.0.99:1"}); n != 0 || !errors.Is(err, gossip.ErrJoin) {
		t.Errorf("Join(unreachable) = %d, %v, want 0, ErrJoin", n, err)
	}
	if _, err := b.Join(nil); !errors.Is(err, gossip.ErrJoin) {
		t.Errorf("Join(nil) error = %v, want ErrJoin", err)
	}
}
