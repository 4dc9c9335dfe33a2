package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/e5b1d45c/sessring/internal/wire"
	"github.com/e5b1d45c/sessring/store/internal/admit"
)

// localFastRead answers a read this node owns, holds completely and may
// serve (lease, quorum), without the context and retry machinery: the
// common case with sticky sessions. ok=false sends the caller the slow way.
func (n *Node) localFastRead(token string) (*entry, bool) {
	v := n.view.Load()
	if v == nil {
		return nil, false
	}
	p := v.table.Partition(token)
	owner, replica := v.table.Holders(p)
	if owner != n.name {
		return nil, false
	}
	now := n.now()
	// The quorum check comes first: after this node was cut off it marks
	// the partitions for resync (resync.go), which readState must see.
	if n.checkQuorumAt(v, now) != nil {
		return nil, false
	}
	e, ready, block := n.parts[p].readState(token)
	if !ready || !n.readLeases.mayServe(replica, v.id(), block, now) {
		return nil, false
	}
	if e != nil && e.stub {
		return nil, false // needs the backup: slow path
	}
	if !e.live(now.UnixNano()) {
		if n.backup != nil {
			return nil, false // may be restorable
		}
		e = nil
	}
	n.stats.served.Add(1)
	return e, true
}

// localRead serves a read on this node as the session's owner.
func (n *Node) localRead(ctx context.Context, v *view, p int, token string) (*entry, error) {
	part := n.parts[p]
	if v.table.Owner(p) != n.name {
		return nil, errNotOwner
	}
	if err := n.mayServe(v, p); err != nil {
		return nil, err
	}
	if !part.isReady() {
		if err := n.fetchKey(ctx, v, p, token); err != nil {
			return nil, err
		}
	}
	n.stats.served.Add(1)
	e, err := n.loadFull(ctx, v, p, token)
	if err != nil {
		return nil, err
	}
	if !e.live(n.now().UnixNano()) {
		e = nil
		if n.backup != nil {
			r, err := n.restore(ctx, v, p, token)
			if errors.Is(err, ErrBackup) {
				return nil, nil // cold tier unreachable: serve the live view
			}
			return r, err
		}
	}
	return e, nil
}

// ownerWrite applies op at the owner: it builds the next version from the
// current one, has the replica store it (synchronous mode), then installs it
// locally. The partition's write lock makes each session's versions a chain.
func (n *Node) ownerWrite(ctx context.Context, v *view, p int, token string, op *writeOp) (*entry, uint64, error) {
	if op.kind == opUnlock && op.ttl < 0 {
		// An abandoned lock request: whoever holds the session now, the
		// request may have reached this node when it owned it.
		n.locks.abandon(token, op.lease, n.now())
		return nil, 0, nil
	}
	if v.table.Owner(p) != n.name || n.leaving.Load() {
		return nil, 0, errNotOwner
	}
	if op.kind == opUnlock {
		n.locks.release(token, op.lease)
		return nil, 0, nil
	}
	// A lock is granted under the same conditions as a write: an owner cut
	// off from the majority (a paused process that just woke, with lock
	// requests queued in its sockets) must not hand out a lease the
	// session's current owner knows nothing about.
	if err := n.checkQuorum(v); err != nil {
		return nil, 0, err
	}
	if until := n.parts[p].blockedUntil(); n.now().Before(until) {
		return nil, 0, errNotReady
	}
	if op.kind == opLock {
		stillOwner := func() error {
			if cur := n.view.Load(); cur.table.Owner(p) != n.name || n.leaving.Load() {
				return errNotOwner
			}
			// A request that waited for the holder while this node got
			// cut off is not granted: resyncIfCutOff will drop the table
			// (it cannot run here: the table's lock is held).
			if n.cutOff.Load() {
				return errNoQuorum
			}
			return nil
		}
		lease, err := n.locks.acquireIf(ctx, token, op.ttl, op.lease, stillOwner)
		return nil, lease, err
	}
	part := n.parts[p]
	// A session not in memory may be in the cold tier: fetch it before
	// taking the partition's write lock, so a slow backup holds up only
	// this token's writes.
	var cold *entry
	var coldErr error
	fetched := n.backup != nil && part.get(token) == nil
	if fetched {
		cold, coldErr = n.backup.load(ctx, token)
	}
	part.wmu.Lock()
	defer part.wmu.Unlock()
	if !part.isReady() {
		if err := n.fetchKey(ctx, v, p, token); err != nil {
			return nil, 0, err
		}
	}
	if n.backup != nil && part.get(token) == nil {
		if !fetched { // it was in memory a moment ago: rare
			cold, coldErr = n.backup.load(ctx, token)
		}
		if _, err := n.installRestored(ctx, v, p, token, cold, coldErr); err != nil && !blindWrite(op) {
			// The session may exist only in the cold tier, which cannot be
			// reached: deleting or changing "nothing" here would bring a
			// logged-out session back, or overwrite the full one in the
			// backup with a fragment.
			return nil, 0, err
		}
	}
	// Once a version of this write may be stored elsewhere (an earlier
	// round's reached the replica but lost the race to install here, or
	// one went to the cold tier), a refusal no longer means that nothing
	// was applied (router.write decides retries by it): it is reported as
	// a race.
	stored := false
	failed := func(err error) error {
		if stored && refusedUnapplied(err) {
			return fmt.Errorf("%w: a version may already be stored: %v", errRaced, err)
		}
		return err
	}
	for range 3 {
		cur, err := n.loadFull(ctx, v, p, token)
		if err != nil {
			return nil, 0, failed(err)
		}
		next, err := n.buildNext(token, cur, op, n.now().UnixNano())
		if err != nil || next == nil {
			return liveOrNil(cur, n.now()), 0, failed(err)
		}
		if err := n.admit(cur, next); err != nil {
			return nil, 0, failed(err)
		}
		if n.backup != nil && n.cfg.BackupMode == WriteThrough {
			// Cold tier first: if it fails, nothing has changed anywhere.
			if err := n.backup.writeThrough(ctx, token, next); err != nil {
				return nil, 0, failed(err)
			}
			next.backed.Store(true)
			stored = true
		}
		ok, err := n.replicateAndInstall(ctx, v, p, token, cur, next)
		if err != nil {
			return nil, 0, failed(err)
		}
		if !ok {
			stored = true
			continue // the replica or a repair had a newer copy: rebuild on it
		}
		n.afterWrite(token, cur, next)
		return liveOrNil(next, n.now()), 0, nil
	}
	return nil, 0, errRaced
}

// blindWrite reports whether op does not depend on the session's current
// contents (so it may proceed when a cold copy cannot be checked).
func blindWrite(op *writeOp) bool {
	return op.kind == opCommit || (op.kind == opApply && op.mut.Create)
}

func liveOrNil(e *entry, now time.Time) *entry {
	if e.live(now.UnixNano()) {
		return e
	}
	return nil
}

// replicateAndInstall stores next on the replica (synchronous mode) and then
// locally. ok=false means a newer copy was found and adopted: rebuild.
func (n *Node) replicateAndInstall(ctx context.Context, v *view, p int, token string, cur, next *entry) (bool, error) {
	part := n.parts[p]
	replica := v.table.Replica(p)
	if replica != "" && n.cfg.Replication == Sync {
		theirs, err := n.replicate(ctx, v, replica, p, token, next)
		if err != nil {
			n.stats.replicationErrors.Add(1)
			return false, err
		}
		if theirs != nil {
			n.adopt(p, token, theirs)
			n.stats.repairs.Add(1)
			return false, nil
		}
	}
	if !part.install(token, cur, next, &n.used) {
		return false, nil
	}
	if replica != "" && n.cfg.Replication == Async {
		n.replicateAsync(v, replica, p, token, next)
	}
	return true, nil
}

// replicate sends next to the replica. A non-nil result is the replica's
// own, newer copy.
func (n *Node) replicate(ctx context.Context, v *view, replica string, p int, token string, next *entry) (*entry, error) {
	enc := encoderFor(len(n.name)+len(token)+4*binary.MaxVarintLen64, next)
	header{n.name, v.id()}.encode(&enc)
	enc.Uvarint(uint64(p))
	enc.String(token)
	next.encode(&enc)
	enc.Bool(next.backed.Load())
	var start time.Time
	if n.cfg.Observer != nil {
		start = time.Now()
	}
	resp, err := n.call(ctx, v, replica, mReplicate, enc.B)
	if err != nil {
		return nil, err
	}
	n.observeOp(OpReplicate, start)
	n.stats.replicated.Add(1)
	d := wire.NewDecoder(resp)
	theirs, err := decodeOptEntry(d, token)
	if err == nil {
		err = d.Finish()
	}
	return theirs, err
}

func (n *Node) replicateAsync(v *view, replica string, p int, token string, next *entry) {
	n.spawn(func() {
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.CallTimeout)
		defer cancel()
		theirs, err := n.replicate(ctx, v, replica, p, token, next)
		if err != nil {
			n.stats.replicationErrors.Add(1)
			return // anti-entropy repairs the replica
		}
		if theirs != nil {
			n.parts[p].merge(token, theirs, &n.used)
		}
	})
}

// admit checks size limits for replacing cur by next.
func (n *Node) admit(cur, next *entry) error {
	if body := admit.Body(next.value, next.fields); body > n.cfg.MaxValueBytes {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, body, n.cfg.MaxValueBytes)
	}
	grow := int64(next.size)
	if cur != nil {
		grow -= int64(cur.size)
	}
	return n.reserve(grow)
}

// reserve checks that grow more bytes fit under MaxBytes, passivating
// backed-up sessions if it has to.
func (n *Node) reserve(grow int64) error {
	need := admit.Need(n.used.Load(), grow, n.cfg.MaxBytes)
	if need == 0 || n.passivate(need) {
		return nil
	}
	n.stats.full.Add(1)
	return fmt.Errorf("%w: %s holds %d bytes, limit %d", ErrFull, n.name, n.used.Load(), n.cfg.MaxBytes)
}

// buildNext computes the entry that op turns cur into at now (nextEntry,
// build.go), counting a write found already applied. nil means nothing
// changes.
func (n *Node) buildNext(token string, cur *entry, op *writeOp, now int64) (*entry, error) {
	next, dup, err := nextEntry(token, cur, op, now, n.writeRules())
	if dup {
		n.stats.duplicateWrites.Add(1) // an earlier attempt is in cur: report cur
	}
	return next, err
}

// writeRules is what building a version needs from this node.
func (n *Node) writeRules() writeRules {
	return writeRules{tombstoneTTL: n.cfg.TombstoneTTL, checkLease: n.locks.check}
}

// tombstone is the entry that records the deletion of live at now
// (tombstoneFor).
func (n *Node) tombstone(live *entry, now int64) *entry {
	return tombstoneFor(live, now, n.cfg.TombstoneTTL)
}

// adopt stores a copy that came from another node (a replica's newer
// version, anti-entropy, pull) and, when this node owns the partition,
// queues it for the backup: the write that made it may never have been
// queued (its owner lost the race with this merge, or died with it queued).
func (n *Node) adopt(p int, token string, e *entry) {
	cur, taken := n.parts[p].merge(token, e, &n.used)
	if !taken || n.backup == nil || cur.backed.Load() || cur.stub {
		return
	}
	if v := n.view.Load(); v != nil && v.table.Owner(p) == n.name {
		n.backup.enqueue(token, cur)
	}
}

// afterWrite runs once a write is installed: backup, stats.
func (n *Node) afterWrite(token string, cur, next *entry) {
	n.stats.writes.Add(1)
	if n.backup != nil && n.cfg.BackupMode == WriteBehind {
		n.backup.enqueue(token, next)
	}
}
