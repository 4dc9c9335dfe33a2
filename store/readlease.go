package store

import (
	"context"
	"sync"
	"time"

	"github.com/e5b1d45c/sessring/internal/version"
	"github.com/e5b1d45c/sessring/internal/wire"
	"github.com/e5b1d45c/sessring/store/internal/lease"
)

// Read leases keep an owner from serving a stale copy.
//
// An owner answers reads from its own memory, with no round trip, only while
// it holds a lease from its replica for the current view. The replica grants
// the lease only when its own view agrees (same placement), and remembers how
// long it granted it. If the replica later takes over the partition (it
// thinks the owner died), it waits until that grant has run out before it
// serves as owner. The rules, with their times, are in
// store/internal/lease; this file runs the requests and keeps the state.
//
// When the old owner comes back and its replica is the node that owned the
// partition meanwhile, the replica sends what it wrote during its tenure
// with the next lease grant, so the returning owner serves nothing stale.

// leaseDuration is how long a granted read lease lasts; leaseRenew how often
// owners renew (lease.Duration, lease.Renew).
const (
	leaseDuration = lease.Duration
	leaseRenew    = lease.Renew
)

// readLeases is the per-node lease state.
type readLeases struct {
	// mu guards held, granted and unacked.
	mu      sync.RWMutex
	held    map[string]lease.Held // replica -> lease this node holds as owner
	granted map[string]time.Time  // owner -> end of the lease this node granted it
	// unacked: owner -> the partitions of the last hand-back page sent to
	// it, whose demoted flags come back unless the owner acknowledges the
	// page (serveLease).
	unacked map[string][]int
}

func newReadLeases() *readLeases {
	return &readLeases{held: map[string]lease.Held{}, granted: map[string]time.Time{}, unacked: map[string][]int{}}
}

// heldFrom returns the lease this node holds from replica.
func (l *readLeases) heldFrom(replica string) lease.Held {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.held[replica]
}

// mayServe reports whether this node may act as owner at now of a
// partition with replica (none: "") under view viewID, once any lease it
// granted the previous owner ran out at blockUntil (lease.MayServe).
func (l *readLeases) mayServe(replica string, viewID uint64, blockUntil, now time.Time) bool {
	var h lease.Held
	if replica != "" {
		h = l.heldFrom(replica)
	}
	return lease.MayServe(now, blockUntil, replica != "", h, viewID)
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
	sent := n.now()
	// At cluster version 2 the replica hands back the sessions of the
	// partitions it owned meanwhile in pages (a joiner takes over thousands
	// at once), each acknowledged by the next request, and the lease holds
	// only after a reply with nothing more. A page lost on the way is sent
	// again in the next round: its flags come back at the replica.
	paged := n.writeVersion() >= version.V2
	for ack := false; ; ack = true {
		var enc wire.Encoder
		header{n.name, v.id()}.encode(&enc)
		if paged {
			enc.Bool(true)
			enc.Bool(ack)
		}
		ctx, cancel := context.WithTimeout(context.Background(), leaseDuration/2)
		resp, err := n.call(ctx, v, replica, mLease, enc.B)
		cancel()
		if err != nil {
			return
		}
		d := wire.NewDecoder(resp)
		list, err := decodeEntries(d)
		more := false
		if err == nil && paged {
			more = d.Bool()
		}
		if err == nil {
			err = d.Finish()
		}
		if err != nil {
			return
		}
		// Take what the replica wrote as interim owner before serving reads.
		n.mergeAll(list)
		if !more {
			break
		}
		if n.closed.Load() || n.view.Load() != v {
			return // the next round starts over in the new view
		}
	}
	n.readLeases.mu.Lock()
	n.readLeases.held[replica] = lease.Hold(v.id(), sent)
	n.readLeases.mu.Unlock()
}

// serveLease grants the sender a read lease if this node's view agrees, and
// returns the sessions of partitions this node owned meanwhile.
//
// A request that takes pages (cluster version 2: a flag byte, then whether
// it acknowledges the previous page) gets about maxPullBytes of sessions
// per reply and a flag for more. A page's partitions lose their demoted
// flag when it is sent and get it back unless the next request
// acknowledges the page, and "more" is set while a page waits for its
// acknowledgement, so the owner holds a lease only once every page it was
// sent has been merged. One whole reply would exceed the rpc frame limit
// when a joiner takes over a large share at once.
func (n *Node) serveLease(v *view, h header, d *wire.Decoder) ([]byte, error) {
	paged, ack := false, false
	if d.Len() > 0 {
		paged, ack = d.Bool(), d.Bool()
	}
	if err := d.Finish(); err != nil {
		return nil, err
	}
	if h.tableID != v.id() {
		return nil, errOtherView
	}
	if err := n.checkQuorum(v); err != nil {
		return nil, err
	}
	n.readLeases.mu.Lock()
	unacked := n.readLeases.unacked[h.from]
	delete(n.readLeases.unacked, h.from)
	n.readLeases.mu.Unlock()
	if !ack {
		for _, p := range unacked {
			n.parts[p].demoted.Store(true) // lost on the way: send it again
		}
	}
	var back []tokenEntry
	var sentParts []int
	size := 0
	page := n.cfg.leasePageBytes
	if page <= 0 {
		page = maxPullBytes
	}
	for _, p := range v.replicaOf[h.from] {
		part := n.parts[p]
		if !part.demoted.Load() {
			continue
		}
		if _, held, _ := part.stats(); paged && len(back) > 0 && size+int(held) > page {
			break
		}
		if part.takeDemoted() {
			snap := part.snapshot()
			for _, te := range snap {
				size += te.e.size
			}
			back = append(back, snap...)
			sentParts = append(sentParts, p)
		}
	}
	n.readLeases.mu.Lock()
	n.readLeases.granted[h.from] = lease.Grant(n.now())
	if paged && len(sentParts) > 0 {
		n.readLeases.unacked[h.from] = sentParts
	}
	n.readLeases.mu.Unlock()
	enc := wire.Encoder{B: make([]byte, 0, size+64)}
	encodeEntries(&enc, back)
	if paged {
		more := len(sentParts) > 0
		enc.Bool(more)
		if more {
			n.stats.leasePages.Add(1)
		}
	}
	return enc.B, nil
}

// mayServe reports whether this node may act as owner of p now: it holds a
// read lease from the replica (or there is none), and any lease it granted
// to the previous owner has run out.
func (n *Node) mayServe(v *view, p int) error {
	if err := n.checkQuorum(v); err != nil {
		return err
	}
	if !n.readLeases.mayServe(v.table.Replica(p), v.id(), n.parts[p].blockedUntil(), n.now()) {
		return errNotReady
	}
	return nil
}
