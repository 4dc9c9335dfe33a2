package store

import (
	"context"
	"fmt"
	"sync"
	"time"
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
	// mu guards m, next and abandoned.
	mu        sync.Mutex
	m         map[string]*lease
	next      uint64
	abandoned map[uint64]time.Time // nonce -> when it was abandoned
}

type lease struct {
	id    uint64
	nonce uint64 // of the request it was granted to; 0: none given
	until time.Time
	freed chan struct{} // closed when released or replaced
}

// abandonMemory is how long an abandoned nonce is refused: longer than a
// request can sit in a connection's retransmission queue before the
// connection breaks.
const abandonMemory = 2 * time.Minute

func newLockTable() *lockTable {
	return &lockTable{m: make(map[string]*lease), next: randUint64() | 1, abandoned: make(map[uint64]time.Time)}
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
func (t *lockTable) acquireIf(ctx context.Context, token string, ttl time.Duration, nonce uint64, grantable func() error) (uint64, error) {
	if ttl <= 0 {
		return 0, fmt.Errorf("%w: lease ttl must be positive", ErrBadConfig)
	}
	for {
		t.mu.Lock()
		if _, gone := t.abandoned[nonce]; gone && nonce != 0 {
			t.mu.Unlock()
			return 0, fmt.Errorf("%w: its caller gave up on this request", ErrLocked)
		}
		cur := t.m[token]
		now := time.Now()
		if cur != nil && nonce != 0 && cur.nonce == nonce && now.Before(cur.until) {
			t.mu.Unlock()
			return cur.id, nil
		}
		if cur == nil || !now.Before(cur.until) {
			if grantable != nil {
				if err := grantable(); err != nil {
					t.mu.Unlock()
					return 0, err
				}
			}
			t.next++
			l := &lease{id: t.next, nonce: nonce, until: now.Add(ttl), freed: make(chan struct{})}
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
func (t *lockTable) release(token string, id uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if cur := t.m[token]; cur != nil && cur.id == id {
		close(cur.freed)
		delete(t.m, token)
	}
}

// abandon frees token if the request nonce holds it, and refuses that
// request from now on (for abandonMemory).
func (t *lockTable) abandon(token string, nonce uint64, now time.Time) {
	if nonce == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if cur := t.m[token]; cur != nil && cur.nonce == nonce {
		close(cur.freed)
		delete(t.m, token)
	}
	t.abandoned[nonce] = now
}

// dropUnless frees every lease whose token keep rejects: the sessions this
// node no longer owns. Their holders' writes go to the new owner, which
// refuses the lease anyway (ErrLeaseLost); kept here, a lease would block
// the session for the rest of its ttl if ownership came back (a node that
// joined leaves again), though no request holds it any more.
func (t *lockTable) dropUnless(keep func(token string) bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for token, l := range t.m {
		if !keep(token) {
			close(l.freed)
			delete(t.m, token)
		}
	}
}

// check reports whether id currently holds token.
func (t *lockTable) check(token string, id uint64) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	cur := t.m[token]
	if cur == nil || cur.id != id || !time.Now().Before(cur.until) {
		return ErrLeaseLost
	}
	return nil
}

// sweep drops expired leases.
func (t *lockTable) sweep(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, l := range t.m {
		if !now.Before(l.until) {
			close(l.freed)
			delete(t.m, k)
		}
	}
	for nonce, at := range t.abandoned {
		if now.Sub(at) > abandonMemory {
			delete(t.abandoned, nonce)
		}
	}
}
