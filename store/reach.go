package store

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/e5b1d45c/sessring/gossip"
	"github.com/e5b1d45c/sessring/internal/wire"
	"github.com/e5b1d45c/sessring/store/internal/reach"
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
//
// The rules (window, majority, silence) are in store/internal/reach; this
// file keeps the heard times under a mutex and runs the heartbeats.

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
	isNew := func(m string) bool { return old == nil || !old.table.Has(m) }
	// Forget members that are gone for good (left, or lost and
	// forgotten), so churn does not grow the maps.
	gone := func(m string) bool { return !v.table.Has(m) && !slices.Contains(v.lost, m) }
	reach.Admit(r.heard, r.added, v.table.Members(), isNew, gone, now)
}

func (r *reachability) note(name string, at time.Time) {
	r.mu.Lock()
	reach.Note(r.heard, name, at)
	r.mu.Unlock()
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
	return reach.Window(probe, mult)
}

// reachableMajority reports whether this node has recently heard from a
// strict majority of the members it knows (alive plus recently lost),
// counting itself.
func (n *Node) reachableMajority(v *view) bool {
	known := reach.Known(v.table.Len(), len(v.lost), v.table.Has(n.name))
	others, window, now := n.others(v), n.reachWindow(), n.now()
	n.reach.mu.Lock()
	defer n.reach.mu.Unlock()
	return reach.Reachable(n.reach.heard, others, known, now, window)
}

// others lists the members of v but this node.
func (n *Node) others(v *view) []string {
	members := v.table.Members()
	others := members[:0:0]
	for _, m := range members {
		if m != n.name {
			others = append(others, m)
		}
	}
	return others
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
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		if v := n.view.Load(); v != nil && !n.leaving.Load() {
			// Notice losing the majority (and getting it back) without
			// waiting for a request to check.
			n.checkQuorumAt(v, n.now())
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
	if !reach.ShouldPing(r.heard[name], r.pinging[name], recent) {
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

// checkQuorum refuses service on the minority side of a partition
// (MinorityRefuse): it cannot tell a cut from a crash, and serving there
// would fork the session's versions.
//
// A positive verdict is cached for an eighth of the reach window (per view),
// which keeps it off the per-read cost and still well inside the suspicion
// timeout the window is derived from.
func (n *Node) checkQuorum(v *view) error { return n.checkQuorumAt(v, n.now()) }

func (n *Node) checkQuorumAt(v *view, now time.Time) error {
	if n.cfg.Minority != MinorityRefuse {
		return nil
	}
	if n.quorumOK.Load().Fresh(v.id(), now) {
		n.resyncIfCutOff(v)
		return nil
	}
	if !v.quorate() || !n.reachableMajority(v) {
		if n.hadQuorum.Load() && n.majoritySilence(v, now) >= n.cutOffAfter() {
			n.markCutOff()
		}
		return errNoQuorum
	}
	if last := n.lastQuorate.Swap(now.UnixNano()); n.hadQuorum.Load() && reach.Paused(time.Unix(0, last), now, n.reachWindow()) {
		// No check passed for as long as the others need to declare this
		// node dead (it was paused, or starved), and messages queued
		// meanwhile may have refreshed its contacts before any check saw
		// the silence: count it as cut off.
		n.markCutOff()
	}
	n.hadQuorum.Store(true)
	n.resyncIfCutOff(v)
	n.quorumOK.Store(&quorumVerdict{ViewID: v.id(), Until: now.Add(n.reachWindow() / 8)})
	return nil
}

// quorumVerdict caches a positive majority check.
type quorumVerdict = reach.Verdict
