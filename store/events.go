package store

import (
	"slices"
	"time"
)

// Membership events: each member that joins, fails or leaves is logged once
// by every node that sees it, and reported to the Observer, as is the
// moment this node holds all its partitions again afterwards.

// catchUp is a membership change whose pulls are still running.
type catchUp struct {
	since   time.Time // the change, or for a failure when the member was last heard from
	pending int       // partitions to pull when it started
}

// noteMembers logs and reports who joined, failed or left between old and
// v, and starts timing the catch-up. n.viewMu is held.
func (n *Node) noteMembers(old, v *view, now time.Time, pending int) {
	since := now
	for _, m := range v.table.Members() {
		if !old.table.Has(m) {
			n.log.Info("member joined", "member", m, "members", v.table.Len())
			n.observeEvent(Event{Time: now, Kind: EventJoined, Member: m})
		}
	}
	for _, m := range old.table.Members() {
		if v.table.Has(m) || m == n.name {
			continue
		}
		if _, departed := n.departedAt[m]; departed || !slices.Contains(v.lost, m) {
			n.log.Info("member left", "member", m, "members", v.table.Len())
			n.observeEvent(Event{Time: now, Kind: EventLeft, Member: m})
			continue
		}
		took := time.Duration(0)
		n.reach.mu.Lock()
		heard := n.reach.heard[m]
		n.reach.mu.Unlock()
		if !heard.IsZero() {
			took = now.Sub(heard)
			since = earlier(since, heard)
		}
		n.log.Warn("member failed", "member", m, "members", v.table.Len(), "detected_after", took.Round(time.Millisecond))
		n.observeEvent(Event{Time: now, Kind: EventFailed, Member: m, Took: took})
	}
	if pending > 0 {
		if c := n.catchUp.Load(); c != nil {
			since = earlier(since, c.since) // still catching up on an earlier change
		}
		n.catchUp.Store(&catchUp{since: since, pending: pending})
	}
}

// noteCaughtUp reports the end of a catch-up, once every held partition is
// ready. Called by the pull loop only.
func (n *Node) noteCaughtUp() {
	// Load the record before the view: a change that lands after the view
	// was read replaces the record, and the CompareAndSwap below then
	// fails instead of reporting partitions still being pulled.
	c := n.catchUp.Load()
	if c == nil {
		return
	}
	if v := n.view.Load(); v != nil {
		for p, part := range n.parts {
			if v.holds(p) && !part.isReady() {
				return // a newer change arrived meanwhile
			}
		}
	}
	if !n.catchUp.CompareAndSwap(c, nil) {
		return
	}
	took := n.now().Sub(c.since)
	n.log.Info("caught up: every held partition is complete", "partitions", c.pending, "took", took.Round(time.Millisecond))
	n.observeEvent(Event{Kind: EventCaughtUp, Took: took, Partitions: c.pending})
}

func earlier(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
