package store

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// leaseTable holds the session locks granted by this node as owner. Leases
// are not replicated: when ownership moves, every lease on the moved
// sessions is lost, and a write carrying a lost lease fails with
// ErrLeaseLost (fencing), so a request that lost its lock cannot overwrite
// the work of the next holder.
type leaseTable struct {
	// mu guards m and next.
	mu   sync.Mutex
	m    map[string]*lease
	next uint64
}

type lease struct {
	id    uint64
	until time.Time
	freed chan struct{} // closed when released or replaced
}

func newLeaseTable() *leaseTable {
	return &leaseTable{m: make(map[string]*lease), next: randUint64() | 1}
}

// acquire waits until token is free, then grants a lease for ttl.
func (t *leaseTable) acquire(ctx context.Context, token string, ttl time.Duration) (uint64, error) {
	if ttl <= 0 {
		return 0, fmt.Errorf("%w: lease ttl must be positive", ErrBadConfig)
	}
	for {
		t.mu.Lock()
		cur := t.m[token]
		now := time.Now()
		if cur == nil || !now.Before(cur.until) {
			t.next++
			l := &lease{id: t.next, until: now.Add(ttl), freed: make(chan struct{})}
			if cur != nil {
				close(cur.freed)
			}
			t.m[token] = l
			t.mu.Unlock()
			return l.id, nil
		}
		wait := time.NewTimer(time.Until(cur.until))
		t.mu.Unlock()
		select {
		case <-ctx.Done():
			wait.Stop()
			return 0, fmt.Errorf("%w: %w", ErrLocked, ctx.Err())
		case <-cur.freed:
		case <-wait.C:
		}
		wait.Stop()
	}
}

// release frees token if id still holds it.
func (t *leaseTable) release(token string, id uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if cur := t.m[token]; cur != nil && cur.id == id {
		close(cur.freed)
		delete(t.m, token)
	}
}

// check reports whether id currently holds token.
func (t *leaseTable) check(token string, id uint64) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	cur := t.m[token]
	if cur == nil || cur.id != id || !time.Now().Before(cur.until) {
		return ErrLeaseLost
	}
	return nil
}

// sweep drops expired leases.
func (t *leaseTable) sweep(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, l := range t.m {
		if !now.Before(l.until) {
			close(l.freed)
			delete(t.m, k)
		}
	}
}
