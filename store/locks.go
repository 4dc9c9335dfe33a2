package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/e5b1d45c/sessring/store/internal/locktable"
)

// lockTable holds the session locks granted by this node as owner. Leases
// are not replicated: when ownership moves, every lease on the moved
// sessions is lost (and dropped here, see dropUnless), and a write carrying
// a lost lease fails with ErrLeaseLost (fencing), so a request that lost
// its lock cannot overwrite the work of the next holder. (The middleware
// then locks again at the new owner and commits only if the session is
// unchanged.)
//
// Each lock request carries a nonce chosen by its caller, the same for all
// its attempts. A caller that gives up on a request whose outcome it does
// not know (its wait ran out, the reply was lost) abandons the nonce: a
// lease granted to it is freed, and a request with it that arrives later (a
// TCP segment held up by a partition and delivered when it heals) is
// refused. Without that, such a late request would hold the session locked
// for a whole ttl on behalf of nobody.
type lockTable struct {
	now func() time.Time // the node's clock
	// mu guards t.
	mu sync.Mutex
	t  *locktable.Table // the rules (store/internal/locktable)
}

func newLockTable(now func() time.Time) *lockTable {
	return &lockTable{now: now, t: locktable.New(randUint64() | 1)}
}

// acquire waits until token is free, then grants a lease for ttl to the
// request nonce (0: an anonymous request). A second attempt of a request
// that holds the lease gets the same lease.
func (t *lockTable) acquire(ctx context.Context, token string, ttl time.Duration, nonce uint64) (uint64, error) {
	return t.acquireIf(ctx, token, ttl, nonce, nil)
}

// acquireIf is acquire that, each time the lease could be granted (at once
// or after waiting), first asks grantable, under the table's lock, and
// returns its error instead of a lease. The owner passes a check that it
// still owns the session: a request that waited while the partition moved
// away must not be granted a lease the new owner knows nothing about
// (dropUnless, which frees the leases of moved sessions, runs under the
// same lock after the view changed). grantable must not take locks.
//
// The wait for a holder's lease to run out is a real-time timer for the
// time left on the node's clock: a test that moves a manual clock past
// the end wakes the waiter with sweep (which frees the lease), not by
// the timer.
func (t *lockTable) acquireIf(ctx context.Context, token string, ttl time.Duration, nonce uint64, grantable func() error) (uint64, error) {
	if ttl <= 0 {
		return 0, fmt.Errorf("%w: lease ttl must be positive", ErrBadConfig)
	}
	for {
		t.mu.Lock()
		now := t.now()
		id, busy, err := t.t.Acquire(token, ttl, nonce, now, grantable)
		t.mu.Unlock()
		if errors.Is(err, locktable.ErrAbandoned) {
			return 0, fmt.Errorf("%w: its caller gave up on this request", ErrLocked)
		}
		if busy == nil {
			return id, err
		}
		wait := time.NewTimer(busy.Until.Sub(now))
		select {
		case <-ctx.Done():
			wait.Stop()
			return 0, fmt.Errorf("%w: %w", ErrLocked, ctx.Err())
		case <-busy.Freed:
		case <-wait.C:
		}
		wait.Stop()
	}
}

// release frees token if id still holds it.
func (t *lockTable) release(token string, id uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.t.Release(token, id)
}

// abandon frees token if the request nonce holds it, and refuses that
// request from now on (for locktable.AbandonMemory).
func (t *lockTable) abandon(token string, nonce uint64, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.t.Abandon(token, nonce, now)
}

// dropUnless frees every lease whose token keep rejects: the sessions this
// node no longer owns. Their holders' writes go to the new owner, which
// refuses the lease anyway (ErrLeaseLost); kept here, a lease would block
// the session for the rest of its ttl if ownership came back (a node that
// joined leaves again), though no request holds it any more.
func (t *lockTable) dropUnless(keep func(token string) bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.t.DropUnless(keep)
}

// check reports whether id currently holds token.
func (t *lockTable) check(token string, id uint64) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.t.Holds(token, id, t.now()) {
		return ErrLeaseLost
	}
	return nil
}

// sweep drops expired leases and old abandoned nonces.
func (t *lockTable) sweep(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.t.Sweep(now)
}
