package store

import (
	"fmt"
	"time"

	"github.com/e5b1d45c/sessring/internal/wire"
)

// Exactly-once writes.
//
// A write whose reply is lost (the owner died after replicating it, a
// connection broke, a call timed out) may or may not have been applied. The
// router retries it, often at a new owner. Applying it a second time is
// wrong when other writes came in between: the retry would put back a value
// that a later, acknowledged write replaced (the linearizability check found
// exactly that after a crash). So every write carries an id, fixed for all
// its attempts, and each session version remembers the ids of the writes
// that made it and its recent predecessors. The list travels with the entry
// (replication, handoff, repair, backup), so whichever node owns the session
// next recognises a retry of a write it already holds and answers it without
// applying it again.

// opID names one client write across all its attempts: the incarnation of
// the node that took the call and a sequence number local to it.
type opID struct {
	node uint64
	seq  uint64
}

func (id opID) valid() bool { return id != opID{} }

// opRecord is one remembered write: its id and when the owner applied it
// (owner clock, unix nanoseconds).
type opRecord struct {
	id opID
	at int64
}

const (
	// opMemory is how long a version remembers the writes that led to it:
	// longer than a failover takes (a few seconds), short enough that a
	// session's history stays small (opRecordSize bytes a write).
	opMemory = int64(10 * time.Second)
	// opRetryWindow bounds how long after its first attempt a write may be
	// retried, inside opMemory, whatever the caller's deadline.
	opRetryWindow = 8 * time.Second
	// maxOpRecords caps the list for a session written several times a
	// second; dropping a record younger than opMemory is noted in opsCut.
	maxOpRecords = 16
)

// nextOpID returns a fresh write id.
func (n *Node) nextOpID() opID {
	return opID{node: n.incarnation, seq: n.opSeq.Add(1)}
}

// applied reports whether the write id made e or one of its recent
// predecessors.
func (e *entry) applied(id opID) bool {
	if e == nil || !id.valid() {
		return false
	}
	for _, r := range e.ops {
		if r.id == id {
			return true
		}
	}
	return false
}

// checkRetry decides a write against cur before it is applied: done=true
// means cur already contains it (an earlier attempt got through).
func checkRetry(cur *entry, op *writeOp, now int64) (done bool, err error) {
	if !op.id.valid() || cur == nil {
		return false, nil
	}
	if cur.applied(op.id) {
		return true, nil
	}
	age := op.age
	if !op.arrived.IsZero() {
		age += time.Duration(now - op.arrived.UnixNano())
	}
	if op.retry && age > opRetryWindow {
		// Its record may already be pruned here (this owner waited, or
		// its clock is ahead of the one that recorded it).
		return false, fmt.Errorf("%w: retried %v after the first attempt", ErrUncertain, age.Round(time.Millisecond))
	}
	if op.retry && cur.opsCut > now-opMemory {
		// More writes came in since the first attempt than are
		// remembered: neither apply it again nor report it as done.
		return false, fmt.Errorf("%w: %d later writes to the session", ErrUncertain, maxOpRecords)
	}
	return false, nil
}

// recordOp sets next's history: cur's records younger than opMemory plus
// id, at most maxOpRecords of them.
func recordOp(next, cur *entry, id opID, now int64) {
	if !id.valid() {
		if cur != nil {
			next.ops, next.opsCut = cur.ops, cur.opsCut
		}
		return
	}
	var prev []opRecord
	if cur != nil {
		prev, next.opsCut = cur.ops, cur.opsCut
	}
	keep := make([]opRecord, 0, min(len(prev)+1, maxOpRecords))
	start := 0
	for start < len(prev) && prev[start].at <= now-opMemory {
		start++
	}
	if drop := len(prev) - start + 1 - maxOpRecords; drop > 0 {
		for _, r := range prev[start : start+drop] {
			next.opsCut = max(next.opsCut, r.at)
		}
		start += drop
	}
	keep = append(keep, prev[start:]...)
	next.ops = append(keep, opRecord{id: id, at: now})
	if next.opsCut <= now-opMemory {
		next.opsCut = 0
	}
}

func encodeOps(enc *wire.Encoder, ops []opRecord, cut int64) {
	enc.Uvarint(uint64(len(ops)))
	for _, r := range ops {
		enc.Uvarint(r.id.node)
		enc.Uvarint(r.id.seq)
		enc.Varint(r.at)
	}
	enc.Varint(cut)
}

func decodeOps(d *wire.Decoder) ([]opRecord, int64) {
	n := d.Count(3)
	if n > maxOpRecords {
		d.Fail(fmt.Sprintf("%d write records, at most %d", n, maxOpRecords))
		return nil, 0
	}
	var ops []opRecord
	if n > 0 {
		ops = make([]opRecord, n)
	}
	for i := 0; i < n && d.Err() == nil; i++ {
		ops[i] = opRecord{id: opID{node: d.Uvarint(), seq: d.Uvarint()}, at: d.Varint()}
	}
	return ops, d.Varint()
}
