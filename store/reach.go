package store

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/e5b1d45c/sessring/gossip"
	"github.com/e5b1d45c/sessring/internal/wire"
)

// Reachability quorum.
//
// A gossip view is not a quorum: failure detection is staggered, so the
// minority side of a partition passes through views in which it still lists
// some of the majority as alive, enough to look like a majority, and could
// pick an owner and replica on its own side. So the majority rule
// (Config.Minority) counts only members this node has exchanged a message
// with during the last reachWindow, and a heartbeat keeps that fresh. The
// window is one probe interval, shorter than memberlist's fastest death
// verdict (SuspicionMult × ProbeInterval after a failed probe), so by the
// time a minority's view changes its contact with the majority is stale.
// Owner reads and writes, replica acknowledgements and read lease grants all
// require it on the node doing them.

// reachability records when each member was last heard from.
type reachability struct {
	// mu guards heard, pinging and added.
	mu      sync.Mutex
	heard   map[string]time.Time
	pinging map[string]bool // a heartbeat to this member is in flight
	// added is when a member never heard from entered the view: its
	// silence counts from then (resync.go), or a healthy start would find
	// itself cut off from members it simply has not talked to yet.
	added map[string]time.Time
}

// noteAdded records when members of v that were not in old, and that were
// never heard from, entered the view.
func (r *reachability) noteAdded(old, v *view, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.added == nil {
		r.added = make(map[string]time.Time)
	}
	for _, m := range v.table.Members() {
		if (old == nil || !old.table.Has(m)) && r.heard[m].IsZero() {
			r.added[m] = now
		}
	}
	// Forget members that are gone for good (left, or lost and
	// forgotten), so churn does not grow the maps.
	gone := func(m string) bool { return !v.table.Has(m) && !slices.Contains(v.lost, m) }
	for m := range r.added {
		if gone(m) || !r.heard[m].IsZero() {
			delete(r.added, m)
		}
	}
	for m := range r.heard {
		if gone(m) {
			delete(r.heard, m)
		}
	}
}

func (r *reachability) note(name string, at time.Time) {
	r.mu.Lock()
	if at.After(r.heard[name]) {
		r.heard[name] = at
	}
	r.mu.Unlock()
}

// count reports how many of names were heard from since since.
func (r *reachability) count(names []string, since time.Time) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := 0
	for _, n := range names {
		if r.heard[n].After(since) {
			c++
		}
	}
	return c
}

// reachWindow is the freshness window of the reachability quorum: half of
// memberlist's shortest suspicion timeout (SuspicionMult × ProbeInterval),
// so it ends well before any node can be declared dead.
func (n *Node) reachWindow() time.Duration {
	d := gossip.DefaultConfig()
	probe, mult := n.cfg.ProbeInterval, n.cfg.SuspicionMult
	if probe == 0 {
		probe = d.ProbeInterval
	}
	if mult == 0 {
		mult = d.SuspicionMult
	}
	return time.Duration(mult) * probe / 2
}

// reachableMajority reports whether this node has recently heard from a
// strict majority of the members it knows (alive plus recently lost),
// counting itself.
func (n *Node) reachableMajority(v *view) bool {
	known := v.table.Len() + len(v.lost)
	if !v.table.Has(n.name) {
		known++ // a leaving node still counts itself
	}
	members := v.table.Members()
	others := members[:0:0]
	for _, m := range members {
		if m != n.name {
			others = append(others, m)
		}
	}
	reach := 1 + n.reach.count(others, n.now().Add(-n.reachWindow()))
	return 2*reach > known
}

// heartbeatLoop pings each member not heard from during the last half reach
// window (any request or reply counts), so the reachability quorum reflects
// the network and not the traffic pattern, at little cost under load. Pings
// do not wait for each other: a slow or unreachable member must not starve
// the others' heartbeats.
func (n *Node) heartbeatLoop() {
	defer n.wg.Done()
	t := time.NewTicker(n.reachWindow() / 4)
	defer t.Stop()
	for {
		var now time.Time
		select {
		case <-n.stop:
			return
		case now = <-t.C:
		}
		if v := n.view.Load(); v != nil && !n.leaving.Load() {
			// Notice losing the majority (and getting it back) without
			// waiting for a request to check.
			n.checkQuorumAt(v, now)
			n.pingStale(v)
		}
	}
}

func (n *Node) pingStale(v *view) {
	recent := n.now().Add(-n.reachWindow() / 2)
	var enc wire.Encoder
	header{n.name, v.id()}.encode(&enc)
	for _, m := range v.table.Members() {
		if m == n.name || !n.reach.startPing(m, recent) {
			continue
		}
		ping := func() {
			defer n.reach.endPing(m)
			ctx, cancel := context.WithTimeout(context.Background(), n.reachWindow())
			defer cancel()
			n.call(ctx, v, m, mPing, enc.B)
		}
		if !n.spawn(ping) {
			n.reach.endPing(m)
			return
		}
	}
}

// startPing reports whether a heartbeat to name should go out now (not heard
// since recent, none in flight) and marks it in flight.
func (r *reachability) startPing(name string, recent time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pinging[name] || r.heard[name].After(recent) {
		return false
	}
	r.pinging[name] = true
	return true
}

func (r *reachability) endPing(name string) {
	r.mu.Lock()
	delete(r.pinging, name)
	r.mu.Unlock()
}
