package store

import (
	"bytes"
	"fmt"
	"maps"
	"time"
)

// Building the next version of a session.
//
// A write is applied by building a new entry from the current one and
// swapping it in (owner.go). The building is a pure function of the
// current entry, the write, the time and the rules below: it reads no
// clock, takes no lock and calls no peer, so build_test.go checks it case
// by case. The entry type stays in entry.go.

// writeRules is what building a version needs besides the versions.
type writeRules struct {
	tombstoneTTL time.Duration // Config.TombstoneTTL
	// checkLease returns ErrLeaseLost unless lock lease id holds token
	// (lockTable.check): the fencing of Apply.
	checkLease func(token string, id uint64) error
}

// nextEntry computes the entry that op turns cur into at now. nil means
// nothing changes (the write is skipped: unchanged sessions cost no
// replication). dup reports that cur already holds this write (an earlier
// attempt got through): the caller reports cur.
func nextEntry(token string, cur *entry, op *writeOp, now int64, r writeRules) (next *entry, dup bool, err error) {
	live := cur
	if !cur.live(now) {
		live = nil
	}
	var base uint64
	if cur != nil {
		base = cur.version
	}
	if done, err := checkRetry(cur, op, now); done || err != nil {
		return nil, done, err
	}
	switch op.kind {
	case opCommit:
		next = commitEntry(live, op, now, r.tombstoneTTL)
	case opApply:
		next, err = applyEntry(token, live, &op.mut, now, r.checkLease)
	case opDelete:
		if live == nil {
			return nil, false, nil
		}
		next = tombstoneFor(live, now, r.tombstoneTTL)
	default:
		return nil, false, fmt.Errorf("store: unknown write op %d", op.kind)
	}
	if err != nil || next == nil {
		return nil, false, err
	}
	if next.version == 0 { // a new version (a touch keeps the version and its history)
		next.version = base + 1
		recordOp(next, cur, op.id, now)
	}
	next.computeSize(token)
	return next, false, nil
}

// tombstoneFor is the entry that records the deletion of live at now. It is
// kept at least ttl (TombstoneTTL), and at least until live's own deadline:
// until then a copy of the session (a replayed memcached value, say) would
// be live again if nothing remembered the deletion. A session without a
// deadline is remembered for maxTombstoneLife.
func tombstoneFor(live *entry, now int64, ttl time.Duration) *entry {
	until := now + int64(ttl)
	switch d := live.deadline(); {
	case d == 0:
		until = max(until, now+int64(maxTombstoneLife))
	case d > until:
		until = d
	}
	return &entry{kind: live.kind, deleted: true, expiry: until, access: now}
}

// maxTombstoneLife bounds the memory of deleting a session that had no
// deadline.
const maxTombstoneLife = 30 * 24 * time.Hour

// commitEntry is the version a Commit makes of live (nil: none) at now; a
// Commit with a past expiry deletes. nil means nothing changes.
func commitEntry(live *entry, op *writeOp, now int64, tombstoneTTL time.Duration) *entry {
	if op.expiry != 0 && op.expiry <= now {
		if live == nil {
			return nil
		}
		return tombstoneFor(live, now, tombstoneTTL)
	}
	if live != nil && live.kind == KindBytes && live.expiry == op.expiry && bytes.Equal(live.value, op.value) {
		return nil
	}
	return &entry{kind: KindBytes, value: bytes.Clone(op.value), expiry: op.expiry, access: now}
}

// applyEntry is the version an Apply of m makes of live (nil: none) at now.
// checkLease fences m.Lease (the lock table). nil means nothing changes.
func applyEntry(token string, live *entry, m *Mutation, now int64, checkLease func(token string, id uint64) error) (*entry, error) {
	switch {
	case live != nil && live.kind != KindFields:
		return nil, ErrKindMismatch
	case m.Create && live != nil:
		return nil, fmt.Errorf("%w: session exists", ErrConflict)
	case m.IfExists && live == nil:
		return nil, ErrNotFound
	case m.IfVersion != 0 && (live == nil || live.version != m.IfVersion):
		return nil, fmt.Errorf("%w: want version %d", ErrConflict, m.IfVersion)
	}
	if m.Lease != 0 {
		if err := checkLease(token, m.Lease); err != nil {
			return nil, err
		}
	}
	if live == nil && m.empty() && !m.Create {
		return nil, nil // touching a missing session creates nothing
	}
	next := &entry{kind: KindFields, access: now}
	if live != nil {
		next.expiry, next.idle = live.expiry, live.idle
		next.fields = maps.Clone(live.fields)
	}
	changed := applyFields(next, m)
	if !m.Expiry.IsZero() && m.Expiry.UnixNano() != next.expiry {
		next.expiry, changed = m.Expiry.UnixNano(), true
	}
	if m.Idle != 0 && int64(m.Idle) != next.idle {
		next.idle, changed = int64(m.Idle), true
	}
	switch {
	case live == nil || changed:
		return next, nil
	case m.Touch:
		touched := live.clone() // same version: a touch only moves the access time
		touched.access = now
		return touched, nil
	}
	return nil, nil
}

// applyFields applies Clear, Delete and Set to e.fields, reporting whether
// anything changed.
func applyFields(e *entry, m *Mutation) bool {
	changed := false
	if m.Clear && len(e.fields) > 0 {
		e.fields, changed = nil, true
	}
	for _, k := range m.Delete {
		if _, ok := e.fields[k]; ok {
			delete(e.fields, k)
			changed = true
		}
	}
	for k, v := range m.Set {
		if old, ok := e.fields[k]; ok && bytes.Equal(old, v) {
			continue
		}
		if e.fields == nil {
			e.fields = make(map[string][]byte, len(m.Set))
		}
		e.fields[k] = bytes.Clone(v)
		changed = true
	}
	return changed
}
