package storetest

import (
	"crypto/rand"
	"time"

	"github.com/e5b1d45c/sessring/internal/testkit"
	"github.com/e5b1d45c/sessring/store"
)

// Fast sets failure detection, placement size and timeouts for test
// clusters: fast enough to keep tests short, slow enough that a loaded
// two-core machine running the race detector does not declare live nodes
// dead. Callers override what their tests need differently.
func Fast(cfg *store.Config) {
	SetTiming(cfg, testkit.InMemory())
	// Fewer partitions than the default keep several nodes in one process
	// cheap; placement's own tests cover the default count.
	cfg.Partitions = 2048
	cfg.CallTimeout = 300 * time.Millisecond
	cfg.OpTimeout = 5 * time.Second
	cfg.JoinTimeout = 5 * time.Second
	cfg.OrphanGrace = 2 * time.Second
}

// Key returns a fresh random cluster key (32 bytes). A store refuses to run
// without a key unless told it may run insecure, so test clusters run keyed
// like production ones; give every node of one cluster the same key.
func Key() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

// SetTiming copies a test cluster's failure-detection tuning into cfg.
func SetTiming(cfg *store.Config, tm testkit.Timing) {
	cfg.ProbeInterval = tm.ProbeInterval
	cfg.ProbeTimeout = tm.ProbeTimeout
	cfg.GossipInterval = tm.GossipInterval
	cfg.PushPullInterval = tm.PushPullInterval
	cfg.SuspicionMult = tm.SuspicionMult
}
