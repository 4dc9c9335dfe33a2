package store

import (
	"context"
	"sync"
	"time"

	"github.com/e5b1d45c/sessring/internal/wire"
)

// Read leases keep an owner from serving a stale copy.
//
// An owner answers reads from its own memory, with no round trip, only while
// it holds a lease from its replica for the current view. The replica grants
// the lease only when its own view agrees (same placement), and remembers how
// long it granted it. If the replica later takes over the partition (it
// thinks the owner died), it waits until that grant has run out before it
// serves as owner. So the old owner (perhaps only cut off, or wrongly
// declared dead) has stopped serving reads by the time the new owner accepts
// writes. The old owner computes its lease from the time it sent the
// request, so the lease ends on its side before the grant ends on the
// replica's, whatever the clocks say (only their rates must roughly agree).
//
// When the old owner comes back and its replica is the node that owned the
// partition meanwhile, the replica sends what it wrote during its tenure
// with the next lease grant, so the returning owner serves nothing stale.

// leaseDuration is how long a granted read lease lasts; leaseRenew how often
// owners renew. Detection of a dead node takes longer than leaseDuration
// with the default gossip timing, so a crash costs no extra wait.
const (
	leaseDuration = time.Second
	leaseRenew    = leaseDuration / 4
	leaseMargin   = leaseDuration / 10
)

type heldLease struct {
	viewID uint64
	until  time.Time
}

// readLeases is the per-node lease state.
type readLeases struct {
	// mu guards held and granted.
	mu      sync.RWMutex
	held    map[string]heldLease // replica -> lease this node holds as owner
	granted map[string]time.Time // owner -> end of the lease this node granted it
}

func newReadLeases() *readLeases {
	return &readLeases{held: map[string]heldLease{}, granted: map[string]time.Time{}}
}

// valid reports whether this node may serve local reads for partitions
// replicated on replica under view id.
func (l *readLeases) valid(replica string, viewID uint64, now time.Time) bool {
	l.mu.RLock()
	h := l.held[replica]
	l.mu.RUnlock()
	return h.viewID == viewID && now.Before(h.until)
}

func (l *readLeases) grantedTo(owner string) time.Time {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.granted[owner]
}

// leaseLoop renews this node's read leases with every replica of its
// partitions, and at once after a view change.
func (n *Node) leaseLoop() {
	defer n.wg.Done()
	t := time.NewTicker(leaseRenew)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		case <-n.leaseKick:
		}
		n.renewLeases()
	}
}

func (n *Node) kickLeases() {
	select {
	case n.leaseKick <- struct{}{}:
	default:
	}
}

// renewLeases asks each replica of this node's partitions for a lease.
func (n *Node) renewLeases() {
	v := n.view.Load()
	if v == nil || n.leaving.Load() {
		return
	}
	var wg sync.WaitGroup
	for _, r := range v.leaseFrom {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.requestLease(v, r)
		}()
	}
	wg.Wait()
}

func (n *Node) requestLease(v *view, replica string) {
	ctx, cancel := context.WithTimeout(context.Background(), leaseDuration/2)
	defer cancel()
	sent := n.now()
	var enc wire.Encoder
	header{n.name, v.id()}.encode(&enc)
	resp, err := n.call(ctx, v, replica, mLease, enc.B)
	if err != nil {
		return
	}
	d := wire.NewDecoder(resp)
	list, err := decodeEntries(d)
	if err == nil {
		err = d.Finish()
	}
	if err != nil {
		return
	}
	// Take what the replica wrote as interim owner before serving reads.
	n.mergeAll(list)
	n.readLeases.mu.Lock()
	n.readLeases.held[replica] = heldLease{viewID: v.id(), until: sent.Add(leaseDuration - leaseMargin)}
	n.readLeases.mu.Unlock()
}

// serveLease grants the sender a read lease if this node's view agrees, and
// returns the sessions of partitions this node owned meanwhile.
func (n *Node) serveLease(v *view, h header, d *wire.Decoder) ([]byte, error) {
	if err := d.Finish(); err != nil {
		return nil, err
	}
	if h.tableID != v.id() {
		return nil, errOtherView
	}
	if err := n.checkQuorum(v); err != nil {
		return nil, err
	}
	var back []tokenEntry
	for _, p := range v.replicaOf[h.from] {
		if part := n.parts[p]; part.takeDemoted() {
			back = append(back, part.snapshot()...)
		}
	}
	n.readLeases.mu.Lock()
	n.readLeases.granted[h.from] = n.now().Add(leaseDuration)
	n.readLeases.mu.Unlock()
	var enc wire.Encoder
	encodeEntries(&enc, back)
	return enc.B, nil
}

// mayServe reports whether this node may act as owner of p now: it holds a
// read lease from the replica (or there is none), and any lease it granted
// to the previous owner has run out.
func (n *Node) mayServe(v *view, p int) error {
	if err := n.checkQuorum(v); err != nil {
		return err
	}
	now := n.now()
	if until := n.parts[p].blockedUntil(); now.Before(until) {
		return errNotReady
	}
	if r := v.table.Replica(p); r != "" && !n.readLeases.valid(r, v.id(), now) {
		return errNotReady
	}
	return nil
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
	if c := n.quorumOK.Load(); c != nil && c.viewID == v.id() && now.Before(c.until) {
		n.resyncIfCutOff(v)
		return nil
	}
	if !v.quorate() || !n.reachableMajority(v) {
		if n.hadQuorum.Load() && n.majoritySilence(v, now) >= n.cutOffAfter() {
			n.markCutOff()
		}
		return errNoQuorum
	}
	if last := n.lastQuorate.Swap(now.UnixNano()); n.hadQuorum.Load() && now.UnixNano()-last >= int64(2*n.reachWindow()) {
		// No check passed for as long as the others need to declare this
		// node dead (it was paused, or starved), and messages queued
		// meanwhile may have refreshed its contacts before any check saw
		// the silence: count it as cut off.
		n.markCutOff()
	}
	n.hadQuorum.Store(true)
	n.resyncIfCutOff(v)
	n.quorumOK.Store(&quorumVerdict{viewID: v.id(), until: now.Add(n.reachWindow() / 8)})
	return nil
}

// quorumVerdict caches a positive majority check.
type quorumVerdict struct {
	viewID uint64
	until  time.Time
}
