package testkit

import "time"

// Timing is the failure-detection tuning of a test cluster; each harness
// copies it into its own Config (store.Config, gossip.Config), which this
// package cannot import.
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
