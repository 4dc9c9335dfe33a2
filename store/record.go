package store

import (
	"time"
)

// Kind tells how a session's value is structured.
type Kind uint8

const (
	// KindBytes is an opaque value written with Commit (the scs Store shape).
	KindBytes Kind = 1
	// KindFields is a map of named fields written with Apply; changes to
	// different fields by concurrent requests merge at the owner.
	KindFields Kind = 2
)

// Record is one session as held by the cluster.
//
// Version increases by at least one on every accepted write and is the same
// on owner and replica once the write is acknowledged. Readers may use it for
// optimistic concurrency (Mutation.IfVersion).
type Record struct {
	Kind    Kind
	Value   []byte            // KindBytes only; caller must not modify
	Fields  map[string][]byte // KindFields only; caller must not modify
	Version uint64

	// Expiry is the absolute deadline (zero: none). The effective deadline is
	// the earlier of Expiry and LastAccess+Idle.
	Expiry time.Time
	// Idle is the idle timeout (zero: none).
	Idle time.Duration
	// LastAccess is the last time the session was touched or written.
	LastAccess time.Time
}

// Deadline reports the effective expiry time; zero means never.
func (r Record) Deadline() time.Time {
	d := r.Expiry
	if r.Idle > 0 && !r.LastAccess.IsZero() {
		idle := r.LastAccess.Add(r.Idle)
		if d.IsZero() || idle.Before(d) {
			d = idle
		}
	}
	return d
}

// Mutation is a change applied atomically at the session's owner by Apply.
// Fields not named in Set or Delete are left as they are, so two requests
// changing different fields never overwrite each other.
type Mutation struct {
	// Clear removes every field before Set is applied.
	Clear bool
	// Set assigns fields (the byte slices are not retained after Apply returns).
	Set map[string][]byte
	// Delete removes fields.
	Delete []string

	// Expiry replaces the absolute deadline when non-zero.
	Expiry time.Time
	// Idle replaces the idle timeout when non-zero.
	Idle time.Duration
	// Touch refreshes LastAccess (implied by any Set, Delete or Clear).
	Touch bool

	// Create makes Apply fail with ErrConflict if the session exists (used
	// when minting a new token).
	Create bool
	// IfExists makes Apply fail with ErrNotFound if the session is missing,
	// expired or deleted, so a late write cannot bring back a session that
	// was destroyed or expired meanwhile.
	IfExists bool
	// IfVersion, when non-zero, makes Apply fail with ErrConflict unless the
	// current version equals it.
	IfVersion uint64
	// Lease, when non-zero, makes Apply fail with ErrLeaseLost unless the
	// caller holds that lease on the session (see Node.Lock).
	Lease uint64
}

// empty reports whether the mutation changes nothing but the access time.
func (m *Mutation) empty() bool {
	return !m.Clear && len(m.Set) == 0 && len(m.Delete) == 0 && m.Expiry.IsZero() && m.Idle == 0
}
