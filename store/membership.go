package store

import (
	"math/rand/v2"
	"slices"
	"time"

	"github.com/e5b1d45c/sessring/gossip"
)

// watchMembership rebuilds the view after every membership change.
func (n *Node) watchMembership() {
	defer n.wg.Done()
	changes := n.cluster.Changes()
	for {
		select {
		case <-n.stop:
			return
		case <-changes:
			n.refreshView()
		}
	}
}

// refreshView swaps in a view built from the current members and updates
// which partitions must be pulled (newly held) or are orphaned (no longer
// held).
func (n *Node) refreshView() {
	n.viewMu.Lock()
	defer n.viewMu.Unlock()
	old := n.view.Load()
	members := n.cluster.Members()
	lost := n.trackLostLocked(old, members, n.now())
	n.noteClusterVersion(members, lost)
	v := newView(n.name, members, lost, len(n.parts), n.leaving.Load(), old)
	if old != nil && old.id() == v.id() && sameIncarnations(old, v) && slices.Equal(old.lost, v.lost) {
		return
	}
	now := n.now()
	returning := n.returningLocked(old, v, now)
	pending := 0
	for p, part := range n.parts {
		heldNow := v.holds(p)
		heldBefore := old != nil && old.holds(p)
		switch {
		case heldNow && !heldBefore && old != nil:
			part.setReady(false)
			pending++
		case heldNow && !part.isReady():
			pending++
		case !heldNow && heldBefore:
			n.orphanSince[p] = now
		}
		if heldNow {
			n.orphanSince[p] = time.Time{}
			if len(returning) > 0 {
				part.setResync(resyncAll)
			}
		}
		if old != nil {
			n.noteRoleChange(old, v, p, part)
		}
	}
	n.reach.noteAdded(old, v, now)
	n.view.Store(v)
	n.locks.dropUnless(func(token string) bool { return v.table.OwnerOf(token) == n.name })
	if len(returning) > 0 {
		n.stats.resyncs.Add(1)
		n.log.Warn("members back after being lost; re-pulling held partitions from all members", "returning", returning)
	}
	if old != nil {
		n.noteMembers(old, v, now, pending)
	}
	if old == nil || old.id() != v.id() {
		n.log.Debug("placement changed", "members", v.table.Len(), "table", v.id(), "pull", pending)
	}
	n.kickPull()
	n.kickLeases()
}

// noteRoleChange records what a change of owner means for read leases: a
// node that stops owning p hands its writes back with the next lease grant;
// a replica that becomes owner waits out the lease it granted the old owner.
func (n *Node) noteRoleChange(old, v *view, p int, part *partition) {
	oldOwner, oldReplica := old.table.Holders(p)
	newOwner := v.table.Owner(p)
	demoted := oldOwner == n.name && newOwner != n.name
	var block time.Time
	if newOwner == n.name && oldOwner != n.name && oldReplica == n.name {
		block = n.readLeases.grantedTo(oldOwner)
	}
	if demoted || !block.IsZero() {
		part.setRoleChange(demoted, block)
	}
	if newOwner == n.name && oldOwner != n.name && n.backup != nil {
		// Promoted: the old owner may have died with these versions still
		// in its write-behind queue.
		for _, te := range part.snapshot() {
			if !te.e.backed.Load() && !te.e.stub {
				n.backup.enqueue(te.token, te.e)
			}
		}
	}
}

// trackLostLocked updates which members disappeared without a departure
// notice and returns those still within LostMemberTTL, sorted.
func (n *Node) trackLostLocked(old *view, members []gossip.Member, now time.Time) []string {
	alive := make(map[string]bool, len(members))
	for _, m := range members {
		alive[m.Name] = true
		delete(n.lostAt, m.Name)
		// A departure notice arrives while the leaver is still alive, so
		// keep it until the member has gone; clear it only when a member
		// that had gone comes back.
		if old != nil && !old.table.Has(m.Name) {
			delete(n.departedAt, m.Name)
		}
	}
	if old != nil {
		for _, name := range old.table.Members() {
			_, departed := n.departedAt[name]
			_, known := n.lostAt[name]
			if !alive[name] && !departed && !known && name != n.name {
				n.lostAt[name] = now
				n.goneInc[name] = goneRecord{inc: old.incs[name], at: now}
			}
		}
	}
	var lost []string
	for name, at := range n.lostAt {
		if now.Sub(at) > n.cfg.LostMemberTTL {
			delete(n.lostAt, name)
			continue
		}
		lost = append(lost, name)
	}
	for name, at := range n.departedAt {
		if now.Sub(at) > n.cfg.LostMemberTTL {
			delete(n.departedAt, name)
		}
	}
	slices.Sort(lost)
	return lost
}

// lostExpiring reports whether a lost member is due to be forgotten, so the
// view must be rebuilt without it.
func (n *Node) lostExpiring(now time.Time) bool {
	n.viewMu.Lock()
	defer n.viewMu.Unlock()
	for _, at := range n.lostAt {
		if now.Sub(at) > n.cfg.LostMemberTTL {
			return true
		}
	}
	return false
}

// serveDepart records that a member is leaving gracefully, so its
// disappearance does not count as a loss.
func (n *Node) serveDepart(h header) ([]byte, error) {
	n.viewMu.Lock()
	n.departedAt[h.from] = n.now()
	n.viewMu.Unlock()
	return nil, nil
}

func sameIncarnations(a, b *view) bool {
	if len(a.incs) != len(b.incs) {
		return false
	}
	for k, x := range a.incs {
		if b.incs[k] != x {
			return false
		}
	}
	return true
}

func (n *Node) kickPull() {
	select {
	case n.pullKick <- struct{}{}:
	default:
	}
}

// gossipWith forces a gossip state exchange with a peer whose placement view
// differs from ours, so a stale view is corrected in one round trip rather
// than by the next periodic push/pull. Rate limited per peer.
func (n *Node) gossipWith(peer string) {
	n.gossipMu.Lock()
	if n.now().Sub(n.lastGossip[peer]) < 500*time.Millisecond {
		n.gossipMu.Unlock()
		return
	}
	n.lastGossip[peer] = n.now()
	n.gossipMu.Unlock()
	for _, m := range n.cluster.Members() {
		if m.Name == peer {
			addr := m.Addr
			n.spawn(func() { n.cluster.Join([]string{addr}) })
			return
		}
	}
}

// rejoinEvery is how often a node re-contacts seeds and recently seen
// members that are missing from its member list. memberlist only exchanges
// state with members it considers alive, so without this two sides of a
// healed partition would stay apart forever.
const (
	rejoinEvery    = 2 * time.Second
	rememberMember = time.Hour
)

func (n *Node) rejoinLoop() {
	defer n.wg.Done()
	seen := map[string]time.Time{} // gossip address -> last seen alive
	t := time.NewTicker(rejoinEvery)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		if n.leaving.Load() {
			continue
		}
		missing := n.missingPeers(seen, n.now())
		rand.Shuffle(len(missing), func(i, j int) { missing[i], missing[j] = missing[j], missing[i] })
		if len(missing) > 3 {
			missing = missing[:3] // each unreachable address can cost a dial timeout
		}
		if len(missing) > 0 {
			n.cluster.Join(missing)
		}
	}
}

// missingPeers updates seen and returns the seeds and remembered members
// that are not alive in the current member list.
func (n *Node) missingPeers(seen map[string]time.Time, now time.Time) []string {
	alive := map[string]bool{}
	for _, m := range n.cluster.Members() {
		alive[m.Addr] = true
		seen[m.Addr] = now
	}
	var missing []string
	for _, a := range n.cfg.Join {
		if !alive[a] {
			missing = append(missing, a)
		}
	}
	for a, at := range seen {
		switch {
		case now.Sub(at) > rememberMember:
			delete(seen, a)
		case !alive[a] && !slices.Contains(missing, a):
			missing = append(missing, a)
		}
	}
	return missing
}
