package store

import (
	"context"
	"time"
)

// sweepLoop expires sessions. Only the owner expires a live session (by
// writing a replicated tombstone, then firing OnExpire once); every node
// drops tombstones past their time and partitions it stopped holding.
func (n *Node) sweepLoop() {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
			n.sweep()
		}
	}
}

// replicaGrace is how long past its deadline a replica keeps a session the
// owner has not expired yet (the owner may be failing over).
const replicaGrace = time.Minute

func (n *Node) sweep() {
	v := n.view.Load()
	if v == nil {
		return
	}
	now := n.now()
	if n.lostExpiring(now) {
		n.refreshView()
		v = n.view.Load()
	}
	n.locks.sweep(now)
	n.dropOrphans(v, now)
	for p, part := range n.parts {
		owner := v.table.Owner(p) == n.name && part.isReady()
		for _, te := range part.due(now.UnixNano()) {
			n.sweepEntry(v, p, te, owner, now.UnixNano())
		}
	}
	if n.cfg.Pressure == EvictUnprotected {
		n.relieve(v, now)
	}
}

func (n *Node) sweepEntry(v *view, p int, te tokenEntry, owner bool, now int64) {
	e := te.e
	switch {
	case e.deleted:
		if e.expiry <= now {
			n.parts[p].remove(te.token, e, &n.used)
		}
	case e.live(now):
	case owner:
		n.expire(v, p, te.token)
	case e.deadline()+int64(replicaGrace) <= now:
		n.parts[p].remove(te.token, e, &n.used)
	}
}

// expire replaces an expired session by a tombstone on owner and replica and
// fires the expiry callbacks.
func (n *Node) expire(v *view, p int, token string) {
	if n.end(v, p, token, func(cur *entry, now int64) bool { return !cur.live(now) }) {
		n.stats.expired.Add(1)
	}
}

// end replaces token's session by a tombstone on owner and replica, if
// should agrees with its current version, then has the backup delete it and
// fires the expiry callbacks. It reports whether the session was ended.
func (n *Node) end(v *view, p int, token string, should func(cur *entry, now int64) bool) bool {
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.CallTimeout)
	defer cancel()
	part := n.parts[p]
	part.wmu.Lock()
	cur := part.get(token)
	now := n.now().UnixNano()
	if cur == nil || cur.deleted || !should(cur, now) {
		part.wmu.Unlock()
		return false
	}
	tomb := n.tombstone(cur, now)
	tomb.version = cur.version + 1
	recordOp(tomb, cur, opID{}, now) // keeps the write history: a late retry must not revive it
	tomb.computeSize(token)
	ok, err := n.replicateAndInstall(ctx, v, p, token, cur, tomb)
	part.wmu.Unlock()
	if err != nil || !ok {
		return false // next sweep tries again
	}
	if n.backup != nil {
		n.backup.enqueue(token, tomb) // memcached expires it too; this just tidies early
	}
	r := cur.record()
	n.expireMu.Lock()
	fns := append([]func(string, Record){}, n.expireFns...)
	n.expireMu.Unlock()
	for _, fn := range fns {
		fn(token, r)
	}
	return true
}

func (n *Node) dropOrphans(v *view, now time.Time) {
	n.viewMu.Lock()
	defer n.viewMu.Unlock()
	for p, since := range n.orphanSince {
		if !since.IsZero() && now.Sub(since) > n.cfg.OrphanGrace && !v.holds(p) {
			n.parts[p].clear(&n.used)
			n.orphanSince[p] = time.Time{}
		}
	}
}
