package memstore

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/e5b1d45c/sessring/store"
)

// Load returns a copy of the session; (zero, false, nil) when it is missing
// or expired.
func (s *Store) Load(ctx context.Context, token string) (store.Record, bool, error) {
	if err := s.enter(ctx, OpLoad); err != nil {
		return store.Record{}, false, err
	}
	if err := validToken(token); err != nil {
		return store.Record{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.recs[token]
	if !ok || isExpired(r, s.now()) {
		return store.Record{}, false, nil
	}
	return clone(r), true, nil
}

// Apply changes the session atomically, following store.Node's contract. A
// missing session is created unless m changes nothing (a bare Touch), in
// which case the zero Record and a nil error are returned.
func (s *Store) Apply(ctx context.Context, token string, m store.Mutation) (store.Record, error) {
	if err := s.enter(ctx, OpApply); err != nil {
		return store.Record{}, err
	}
	if err := validToken(token); err != nil {
		return store.Record{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	r, exists := s.recs[token]
	if exists && isExpired(r, now) {
		// Dead to the write, but left for Sweep to expire (and report)
		// unless the write replaces it, as store.Node does.
		r, exists = nil, false
	}
	if err := s.checkLocked(token, r, m, now); err != nil {
		return store.Record{}, err
	}
	if !exists && changesNothing(m) {
		return store.Record{}, nil // like store.Node: nothing to create
	}
	next := store.Record{Kind: store.KindFields, Fields: map[string][]byte{}}
	if exists {
		next = clone(r)
	}
	applyMutation(&next, m, now, !exists)
	if s.maxBytes > 0 && size(next.Fields) > s.maxBytes {
		return store.Record{}, fmt.Errorf("memstore: apply: %w", store.ErrTooLarge)
	}
	s.recs[token] = &next
	return clone(&next), nil
}

// checkLocked applies the preconditions of a mutation to the current record
// (nil when absent).
func (s *Store) checkLocked(token string, r *store.Record, m store.Mutation, now time.Time) error {
	switch {
	case r != nil && r.Kind != store.KindFields:
		return fmt.Errorf("memstore: apply: %w", store.ErrKindMismatch)
	case r != nil && m.Create:
		return fmt.Errorf("memstore: apply: %w", store.ErrConflict)
	case r == nil && m.IfExists:
		return fmt.Errorf("memstore: apply: %w", store.ErrNotFound)
	case m.IfVersion != 0 && (r == nil || r.Version != m.IfVersion):
		return fmt.Errorf("memstore: apply: %w", store.ErrConflict)
	}
	if m.Lease != 0 {
		l := s.leases[token]
		if l == nil || l.id != m.Lease || !now.Before(l.expires) {
			return fmt.Errorf("memstore: apply: %w", store.ErrLeaseLost)
		}
	}
	return nil
}

func applyMutation(r *store.Record, m store.Mutation, now time.Time, created bool) {
	if m.Clear {
		r.Fields = map[string][]byte{}
	}
	for k, v := range m.Set {
		r.Fields[k] = bytes.Clone(v)
	}
	for _, k := range m.Delete {
		delete(r.Fields, k)
	}
	if !m.Expiry.IsZero() {
		r.Expiry = m.Expiry
	}
	if m.Idle != 0 {
		r.Idle = m.Idle
	}
	if created || m.Touch || m.Clear || len(m.Set) > 0 || len(m.Delete) > 0 {
		r.LastAccess = now
	}
	r.Version++
}

// changesNothing mirrors store.Mutation's notion of an empty mutation: one
// that at most refreshes the access time.
func changesNothing(m store.Mutation) bool {
	return !m.Clear && len(m.Set) == 0 && len(m.Delete) == 0 && m.Expiry.IsZero() && m.Idle == 0
}

func size(fields map[string][]byte) int {
	n := 0
	for k, v := range fields {
		n += len(k) + len(v)
	}
	return n
}

// DeleteCtx removes the session; a missing one is not an error.
func (s *Store) DeleteCtx(ctx context.Context, token string) error {
	if err := s.enter(ctx, OpDelete); err != nil {
		return err
	}
	if err := validToken(token); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.recs, token)
	return nil
}

// Lock waits until the token's lease is free (released, or expired after its
// ttl) or ctx is done; then it fails with an error wrapping store.ErrLocked.
func (s *Store) Lock(ctx context.Context, token string, ttl time.Duration) (uint64, error) {
	if err := s.enter(ctx, OpLock); err != nil {
		return 0, err
	}
	if err := validToken(token); err != nil {
		return 0, err
	}
	for {
		id, released, wait := s.tryLock(token, ttl)
		if id != 0 {
			return id, nil
		}
		t := time.NewTimer(wait)
		select {
		case <-released:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return 0, fmt.Errorf("memstore: lock: %w: %w", store.ErrLocked, ctx.Err())
		}
		t.Stop()
	}
}

// tryLock takes the lease if it is free. Otherwise it returns the channel
// that closes on release and how long to wait before looking again (the
// lease may expire, on a clock tests may move).
func (s *Store) tryLock(token string, ttl time.Duration) (uint64, <-chan struct{}, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if l := s.leases[token]; l != nil {
		if now.Before(l.expires) {
			return 0, l.released, min(max(l.expires.Sub(now), time.Millisecond), 10*time.Millisecond)
		}
		close(l.released)
	}
	s.nextLease++
	s.leases[token] = &lease{id: s.nextLease, expires: now.Add(ttl), released: make(chan struct{})}
	return s.nextLease, nil, 0
}

// Unlock releases the lease if it is still the current one; releasing an
// expired or lost lease is not an error.
func (s *Store) Unlock(ctx context.Context, token string, id uint64) error {
	if err := s.enter(ctx, OpUnlock); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.leases[token]
	if l == nil || l.id != id {
		return nil // expired or lost: not an error, as with store.Node
	}
	delete(s.leases, token)
	close(l.released)
	return nil
}
