package locktable

import (
	"errors"
	"time"
)

// AbandonMemory is how long an abandoned nonce is refused: longer than a
// request can sit in a connection's retransmission queue before the
// connection breaks.
const AbandonMemory = 2 * time.Minute

// ErrAbandoned is returned by Acquire for a request whose caller gave up.
var ErrAbandoned = errors.New("locktable: its caller gave up on this request")

// Lease is one granted lock.
type Lease struct {
	ID    uint64
	Nonce uint64 // of the request it was granted to; 0: none given
	Until time.Time
	// Freed is closed when the lease is released, dropped or replaced:
	// a waiter selects on it.
	Freed chan struct{}
}

// held reports whether l still holds its token at now.
func (l *Lease) held(now time.Time) bool { return now.Before(l.Until) }

// Table holds the leases granted by one owner.
type Table struct {
	m         map[string]*Lease
	next      uint64
	abandoned map[uint64]time.Time // nonce -> when it was abandoned
}

// New returns an empty table whose lease ids follow first (the caller picks
// it at random, so ids of a restarted owner do not repeat).
func New(first uint64) *Table {
	return &Table{m: make(map[string]*Lease), next: first, abandoned: make(map[uint64]time.Time)}
}

// Acquire grants token for ttl from now to the request nonce if it is free,
// after grantable (nil: always) approves; grantable's error is returned
// instead of a lease. A second attempt of the request that holds the lease
// gets the same id. If another request holds it, Acquire returns that lease
// as busy: the caller waits for busy.Freed or busy.Until and asks again.
func (t *Table) Acquire(token string, ttl time.Duration, nonce uint64, now time.Time, grantable func() error) (id uint64, busy *Lease, err error) {
	if _, gone := t.abandoned[nonce]; gone && nonce != 0 {
		return 0, nil, ErrAbandoned
	}
	cur := t.m[token]
	if cur != nil && nonce != 0 && cur.Nonce == nonce && cur.held(now) {
		return cur.ID, nil, nil
	}
	if cur != nil && cur.held(now) {
		return 0, cur, nil
	}
	if grantable != nil {
		if err := grantable(); err != nil {
			return 0, nil, err
		}
	}
	t.next++
	l := &Lease{ID: t.next, Nonce: nonce, Until: now.Add(ttl), Freed: make(chan struct{})}
	if cur != nil {
		close(cur.Freed)
	}
	t.m[token] = l
	return l.ID, nil, nil
}

// Release frees token if id holds it.
func (t *Table) Release(token string, id uint64) {
	if cur := t.m[token]; cur != nil && cur.ID == id {
		t.free(token, cur)
	}
}

// Abandon frees token if the request nonce holds it, and refuses that
// request from now on (for AbandonMemory). Nonce 0 is ignored.
func (t *Table) Abandon(token string, nonce uint64, now time.Time) {
	if nonce == 0 {
		return
	}
	if cur := t.m[token]; cur != nil && cur.Nonce == nonce {
		t.free(token, cur)
	}
	t.abandoned[nonce] = now
}

// DropUnless frees every lease whose token keep rejects.
func (t *Table) DropUnless(keep func(token string) bool) {
	for token, l := range t.m {
		if !keep(token) {
			t.free(token, l)
		}
	}
}

// Holds reports whether id holds token at now.
func (t *Table) Holds(token string, id uint64, now time.Time) bool {
	cur := t.m[token]
	return cur != nil && cur.ID == id && cur.held(now)
}

// Sweep frees the leases that ended by now and forgets nonces abandoned
// more than AbandonMemory before now.
func (t *Table) Sweep(now time.Time) {
	for token, l := range t.m {
		if !l.held(now) {
			t.free(token, l)
		}
	}
	for nonce, at := range t.abandoned {
		if now.Sub(at) > AbandonMemory {
			delete(t.abandoned, nonce)
		}
	}
}

// Lease returns the lease on token, expired or not (nil: none).
func (t *Table) Lease(token string) *Lease { return t.m[token] }

// Len reports how many leases the table holds, expired or not, and how
// many abandoned nonces it remembers.
func (t *Table) Len() (leases, abandoned int) { return len(t.m), len(t.abandoned) }

func (t *Table) free(token string, l *Lease) {
	close(l.Freed)
	delete(t.m, token)
}
