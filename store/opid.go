package store

import (
	"fmt"
	"time"

	"github.com/e5b1d45c/sessring/internal/wire"
	"github.com/e5b1d45c/sessring/store/internal/writeid"
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
// (replication, pull, repair, backup), so whichever node owns the session
// next recognises a retry of a write it already holds and answers it without
// applying it again.

// The rules live in store/internal/writeid; this file applies them to
// entries and write ops.

// opID names one client write across all its attempts (writeid.ID).
type opID = writeid.ID

// opRecord is one remembered write (writeid.Record).
type opRecord = writeid.Record

const (
	opMemory      = int64(writeid.Memory)
	opRetryWindow = writeid.RetryWindow
	maxOpRecords  = writeid.MaxRecords
)

// nextOpID returns a fresh write id.
func (n *Node) nextOpID() opID {
	return opID{Node: n.incarnation, Seq: n.opSeq.Add(1)}
}

// applied reports whether the write id made e or one of its recent
// predecessors.
func (e *entry) applied(id opID) bool {
	return e != nil && writeid.Applied(e.ops, id)
}

// checkRetry decides a write against cur before it is applied: done=true
// means cur already contains it (an earlier attempt got through).
func checkRetry(cur *entry, op *writeOp, now int64) (done bool, err error) {
	var ops []opRecord
	var cut int64
	if cur != nil {
		ops, cut = cur.ops, cur.opsCut
	}
	age := op.age
	if !op.arrived.IsZero() {
		age += time.Duration(now - op.arrived.UnixNano())
	}
	switch writeid.Check(ops, cut, cur != nil, op.id, op.retry, age, now) {
	case writeid.Done:
		return true, nil
	case writeid.TooLate:
		// Its record may already be pruned here (this owner waited, or
		// its clock is ahead of the one that recorded it).
		return false, fmt.Errorf("%w: retried %v after the first attempt", ErrUncertain, age.Round(time.Millisecond))
	case writeid.Forgotten:
		// More writes came in since the first attempt than are
		// remembered: neither apply it again nor report it as done.
		return false, fmt.Errorf("%w: %d later writes to the session", ErrUncertain, maxOpRecords)
	}
	return false, nil
}

// recordOp sets next's history: cur's records younger than opMemory plus
// id, at most maxOpRecords of them.
func recordOp(next, cur *entry, id opID, now int64) {
	if cur == nil {
		if id.Valid() {
			next.ops, next.opsCut = writeid.Append(nil, 0, id, now)
		}
		return
	}
	next.ops, next.opsCut = writeid.Append(cur.ops, cur.opsCut, id, now)
}

func encodeOps(enc *wire.Encoder, ops []opRecord, cut int64) {
	enc.Uvarint(uint64(len(ops)))
	for _, r := range ops {
		enc.Uvarint(r.ID.Node)
		enc.Uvarint(r.ID.Seq)
		enc.Varint(r.At)
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
		ops[i] = opRecord{ID: opID{Node: d.Uvarint(), Seq: d.Uvarint()}, At: d.Varint()}
	}
	return ops, d.Varint()
}
