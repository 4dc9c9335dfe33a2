package gossip_test

import (
	"strings"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/gossip"
	"github.com/e5b1d45c/sessring/internal/testkit"
)

// TestLoopbackDefaults runs three nodes on real UDP and TCP sockets on
// 127.0.0.1 with the default timings and measures failure detection.
func TestLoopbackDefaults(t *testing.T) {
	testkit.SkipShort(t, "takes about 3s of real failure detection")
	start := func(name string, seeds ...string) *gossip.Cluster {
		cfg := gossip.DefaultConfig()
		cfg.Name = name
		cfg.BindAddr = "127.0.0.1:0"
		cfg.Join = seeds
		cfg.JoinTimeout = 5 * time.Second
		cfg.SecretKey = key1
		cfg.Logger = testLogger(t)
		cfg.Meta = gossip.Meta{RPCAddr: "127.0.0.1:1"}
		g, err := gossip.New(cfg)
		if err != nil {
			t.Fatalf("New(%s) on loopback error = %v", name, err)
		}
		t.Cleanup(func() { _ = g.Close() })
		return g
	}
	a := start("a")
	seed := a.Self().Addr
	if !strings.HasPrefix(seed, "127.0.0.1:") || strings.HasSuffix(seed, ":0") {
		t.Fatalf("Self().Addr = %q, want 127.0.0.1 with the chosen port", seed)
	}
	b, c := start("b", seed), start("c", seed)
	waitMembers(t, 5*time.Second, "a,b,c", a, b, c)

	began := time.Now()
	if err := c.Close(); err != nil { // no Leave: looks like a crash
		t.Fatalf("Close() error = %v", err)
	}
	waitMembers(t, 10*time.Second, "a,b", a, b)
	t.Logf("loopback: failure detected by all in %v with default timings", time.Since(began))
}
