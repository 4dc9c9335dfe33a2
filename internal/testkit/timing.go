package testkit

import "time"

// Timing is the failure-detection tuning of a test cluster; each harness
// copies it into its own Config (store.Config, gossip.Config,
// memberlist.Config), which this package does not import. Every test
// cluster's timing is one of the functions below, adjusted in place only
// where a test explains why.
type Timing struct {
	ProbeInterval    time.Duration
	ProbeTimeout     time.Duration
	GossipInterval   time.Duration
	PushPullInterval time.Duration
	SuspicionMult    int
}

// InMemory is the tuning for store clusters inside one test process on an
// in-memory network (store, backup and middleware tests): fast enough to
// keep tests short, slow enough that a loaded two-core machine running the
// race detector does not declare live nodes dead.
func InMemory() Timing {
	return Timing{
		ProbeInterval:    100 * time.Millisecond,
		ProbeTimeout:     80 * time.Millisecond,
		GossipInterval:   30 * time.Millisecond,
		PushPullInterval: 500 * time.Millisecond,
		SuspicionMult:    3,
	}
}

// Processes is the tuning for nodes that each run in a process of their
// own: a starved race-enabled process must not be declared dead (with a
// 50ms probe timeout and SuspicionMult 2, five busy members were declared
// dead and rejoined over and over and did not settle within 30s).
func Processes() Timing {
	t := InMemory()
	t.ProbeInterval = 200 * time.Millisecond
	t.ProbeTimeout = 150 * time.Millisecond
	return t
}

// Gossip is the tuning for bare gossip members with no store on top
// (package gossip's tests, memberlist on internal/memnet): a failure is
// detected in about 150ms, which the small goroutine load of such tests
// allows.
func Gossip() Timing {
	return Timing{
		ProbeInterval:    50 * time.Millisecond,
		ProbeTimeout:     25 * time.Millisecond,
		GossipInterval:   20 * time.Millisecond,
		PushPullInterval: 300 * time.Millisecond,
		SuspicionMult:    2,
	}
}
