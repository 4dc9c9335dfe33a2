package gossip_test

import (
	"errors"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/gossip"
	"github.com/e5b1d45c/sessring/internal/testkit"
	"github.com/e5b1d45c/sessring/internal/version"
)

func TestChangesOnJoinUpdateLeave(t *testing.T) {
	c := newCluster(t)
	a := c.mustStart("127.0.0.11", 7946, fastConfig(t, "a"))
	ch := a.Changes()
	drain(ch) // a's own join

	b := c.mustStart("127.0.0.12", 0, fastConfig(t, "b", seedAddr))
	changed(t, ch, "b joining")
	waitMembers(t, 3*time.Second, "a,b", a, b)

	drain(ch)
	want := gossip.Meta{RPCAddr: "10.9.9.9:1234", Incarnation: 1, MinVersion: version.Min, MaxVersion: version.Max}
	if err := b.SetMeta(want); err != nil {
		t.Fatalf("SetMeta() error = %v", err)
	}
	if got := b.Self().Meta; got != want {
		t.Errorf("Self().Meta after SetMeta = %+v, want %+v", got, want)
	}
	changed(t, ch, "b's metadata update")
	testkit.Eventually(t, 3*time.Second, "a to see b's new meta", func() bool {
		m, _ := member(a, "b")
		return m.Meta == want
	})

	drain(ch)
	if err := b.Leave(time.Second); err != nil {
		t.Fatalf("Leave() error = %v", err)
	}
	changed(t, ch, "b leaving")
	waitMembers(t, 3*time.Second, "a", a)
}

func TestLeaveIsFasterThanFailureDetection(t *testing.T) {
	c := newCluster(t)
	slow := func(name string, seeds ...string) gossip.Config {
		cfg := fastConfig(t, name, seeds...)
		cfg.SuspicionMult = 60 // failure detection would take >= 3s
		return cfg
	}
	a := c.mustStart("127.0.0.11", 7946, slow("a"))
	b := c.mustStart("127.0.0.12", 0, slow("b", seedAddr))
	d := c.mustStart("127.0.0.13", 0, slow("d", seedAddr))
	waitMembers(t, 3*time.Second, "a,b,d", a, b, d)

	start := time.Now()
	if err := b.Leave(time.Second); err != nil {
		t.Fatalf("Leave() error = %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close() error = %v", err)
	}
	waitMembers(t, time.Second, "a,d", a, d)
	t.Logf("graceful leave seen by all in %v", time.Since(start))
}

func TestAfterLeaveAndClose(t *testing.T) {
	c := newCluster(t)
	a := c.mustStart("127.0.0.11", 7946, fastConfig(t, "a"))
	if err := a.Leave(100 * time.Millisecond); err != nil {
		t.Fatalf("Leave() alone error = %v, want nil", err)
	}
	if err := a.Leave(100 * time.Millisecond); err != nil {
		t.Errorf("second Leave() error = %v, want nil", err)
	}
	if err := a.SetMeta(gossip.Meta{}); !errors.Is(err, gossip.ErrLeft) {
		t.Errorf("SetMeta() after Leave error = %v, want ErrLeft", err)
	}
	if _, err := a.Join([]string{seedAddr}); !errors.Is(err, gossip.ErrLeft) {
		t.Errorf("Join() after Leave error = %v, want ErrLeft", err)
	}
	for i := range 2 {
		if err := a.Close(); err != nil {
			t.Errorf("Close() #%d error = %v, want nil", i+1, err)
		}
	}
	if err := a.Leave(time.Second); !errors.Is(err, gossip.ErrClosed) {
		t.Errorf("Leave() after Close error = %v, want ErrClosed", err)
	}
	if err := a.SetMeta(gossip.Meta{}); !errors.Is(err, gossip.ErrClosed) {
		t.Errorf("SetMeta() after Close error = %v, want ErrClosed", err)
	}
	if err := a.SetMeta(gossip.Meta{RPCAddr: "bad"}); !errors.Is(err, gossip.ErrBadMeta) {
		t.Errorf("SetMeta(bad) error = %v, want ErrBadMeta", err)
	}
}

func TestRandomIncarnation(t *testing.T) {
	c := newCluster(t)
	cfg := fastConfig(t, "a")
	cfg.Meta.Incarnation = 0
	a := c.mustStart("127.0.0.11", 7946, cfg)
	if a.Self().Meta.Incarnation == 0 {
		t.Errorf("Self().Meta.Incarnation = 0 with none configured, want a random non-zero id")
	}
}

func TestCloseStopsGoroutines(t *testing.T) {
	testkit.CheckGoroutines(t, 5*time.Second)
	c := newCluster(t)
	a := c.mustStart("127.0.0.11", 7946, fastConfig(t, "a"))
	b := c.mustStart("127.0.0.12", 0, fastConfig(t, "b", seedAddr))
	waitMembers(t, 3*time.Second, "a,b", a, b)
	_ = b.Leave(time.Second)
	for _, g := range []*gossip.Cluster{a, b} {
		if err := g.Close(); err != nil {
			t.Fatalf("Close() error = %v", err)
		}
	}
}
