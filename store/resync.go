package store

import (
	"time"

	"github.com/e5b1d45c/sessring/store/internal/reach"
)

// Resynchronisation after being cut off.
//
// A node that could not reach a majority for a while (the small side of a
// network partition, a long pause) may have been declared dead by the
// others, who then moved its sessions to other nodes and went on writing
// them there. When it comes back, placement may give it the same
// partitions it held before, so the usual pull rule (pull a partition
// when you newly hold it, from its previous holders in your own previous
// view) sees nothing to do: its previous view was the small side's, and the
// writes happened on nodes it never knew held the data. Serving its old
// copies would return stale sessions and build new versions on them that
// lose to the majority's when the copies meet (the linearizability check
// caught an acknowledged write lost that way after a 3|2 partition healed).
//
// So a node that goes without hearing from a majority for longer than the
// others need to declare it dead remembers it, and before it serves anything
// again it marks every partition it holds as not ready and re-pulls it from
// the partition's other current holder. That one has every write made
// meanwhile: the majority could only write a session if one of its two
// holders was on the majority side, and that holder ranks first among the
// majority, so it was the interim owner. If both holders were cut off
// nobody could write the session (it was stranded) and there is nothing to
// fetch. Sources answer with their partition digest compared to ours and
// send nothing when they match, so a false alarm costs a round trip per
// partition batch, not a copy. Requests in the meantime fetch single
// sessions from the same holder.

// cutOffSilence, in reach windows: how long this node must have gone without
// hearing from a majority before it counts as cut off. The others need two
// windows (memberlist's shortest suspicion timeout) without hearing from it
// to declare it dead; a shorter silence (a loaded machine, one slow
// heartbeat) only refuses service for a moment, it does not resync.
const cutOffSilence = 3 / 2.0

func (n *Node) cutOffAfter() time.Duration {
	return time.Duration(cutOffSilence * float64(n.reachWindow()))
}

// majoritySilence is how long ago this node last heard from enough members
// to make a majority of those it knows (alive plus recently lost).
func (n *Node) majoritySilence(v *view, now time.Time) time.Duration {
	known := reach.Known(v.table.Len(), len(v.lost), v.table.Has(n.name))
	others := n.others(v)
	n.reach.mu.Lock()
	defer n.reach.mu.Unlock()
	return reach.Silence(n.reach.heard, n.reach.added, others, known, now)
}

// markCutOff records that this node lost the majority: the next positive
// quorum check triggers a resync. It also drops the cached verdict.
func (n *Node) markCutOff() {
	if n.cfg.Minority != MinorityRefuse {
		return // sides that both serve merge by version; nothing to fence
	}
	if !n.cutOff.Swap(true) {
		n.log.Warn("cut off from the majority; will re-pull held partitions when back", "silent", n.cutOffAfter())
	}
	n.quorumOK.Store(nil)
}

// resyncIfCutOff runs after a positive quorum check. If the node was cut off
// since the last resync, every partition it holds in the current view
// becomes not ready, to be re-pulled from its other current holder
// (pullSources, resyncHolder) before it is served again.
//
// The flag is cleared only after the marking, under resyncMu, so a
// concurrent request that sees it clear also sees the partitions not ready.
// (Not viewMu: a heartbeat must never wait for a view rebuild.)
func (n *Node) resyncIfCutOff(v *view) {
	if !n.cutOff.Load() {
		return
	}
	n.resyncMu.Lock()
	defer n.resyncMu.Unlock()
	if !n.cutOff.Load() {
		return
	}
	count := 0
	cur := n.view.Load() // a later view marks what it newly holds itself
	for p, part := range n.parts {
		if cur.holds(p) {
			part.setResync(resyncHolder)
			count++
		}
	}
	// Every lock granted before the cut-off goes too. Meanwhile another
	// node owned these sessions, and a holder's Unlock went there: kept
	// here, a lease nobody holds would block its session for the rest of
	// its ttl once ownership came back. A holder still writing with it is
	// refused (ErrLeaseLost), as after any ownership move; it runs before
	// any lock is granted again, since every grant checks the quorum first.
	n.locks.dropUnless(func(string) bool { return false })
	n.cutOff.Store(false)
	n.stats.resyncs.Add(1)
	n.log.Warn("majority reachable again; re-pulling held partitions from their other holders", "partitions", count)
	n.kickPull()
}

// wideSources lists every live member but this node: where a partition's
// sessions may be after this node was cut off.
func (v *view) wideSources() []string {
	var srcs []string
	for _, m := range v.table.Members() {
		if m != v.self {
			srcs = append(srcs, m)
		}
	}
	return srcs
}

// Members that come back.
//
// After a partition longer than LostMemberTTL both sides carried on alone
// (see Config.LostMemberTTL): when they meet again each may hold writes the
// other lacks, on partitions the other holds. A member that reappears as
// the same process (same incarnation) that was lost more than
// LostMemberTTL ago is such a returning member: every partition held here
// is then re-pulled from all members, whole (equal versions may differ
// after a split brain, and digests only cover versions), and the copies
// merge (highest version wins). A member back sooner wrote nothing on its
// side (it refused without a majority) and resyncs itself; a member that
// restarted (new incarnation) starts empty and is an ordinary joiner.

// goneRecord remembers which process of a member was lost, and when.
type goneRecord struct {
	inc uint64
	at  time.Time
}

// rememberGone is how long a lost member's process is remembered.
const rememberGone = time.Hour

// returningLocked lists the members of v that were not in old and are the
// same process that was lost earlier, and whether any was gone for longer
// than LostMemberTTL (both sides may have written: a split brain); it
// forgets them (and stale records). Callers hold viewMu.
func (n *Node) returningLocked(old, v *view, now time.Time) (back []string) {
	for name, g := range n.goneInc {
		inc, member := v.incs[name]
		switch {
		case member && inc == g.inc && (old == nil || !old.table.Has(name)) && now.Sub(g.at) > n.cfg.LostMemberTTL:
			back = append(back, name)
			delete(n.goneInc, name)
		case member && inc == g.inc && (old == nil || !old.table.Has(name)):
			delete(n.goneInc, name) // back within LostMemberTTL: no split brain
		case member && inc != g.inc, now.Sub(g.at) > rememberGone:
			delete(n.goneInc, name) // restarted: an ordinary joiner
		}
	}
	return back
}
