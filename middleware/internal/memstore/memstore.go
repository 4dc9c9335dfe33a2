package memstore

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/e5b1d45c/sessring/store"
)

// Op names a Store method, for Fail and Calls.
type Op string

// The operations.
const (
	OpLoad     Op = "Load"
	OpApply    Op = "Apply"
	OpDelete   Op = "DeleteCtx"
	OpLock     Op = "Lock"
	OpUnlock   Op = "Unlock"
	OpNewToken Op = "NewToken"
)

// Store holds sessions in a map. The zero value is not usable; call New.
type Store struct {
	// mu guards every field below.
	mu          sync.Mutex
	recs        map[string]*store.Record
	leases      map[string]*lease
	nextLease   uint64
	now         func() time.Time
	fail        map[Op]error
	delay       time.Duration
	calls       map[Op]int
	localTokens int
	onExpire    []func(string, store.Record)
	maxBytes    int
}

type lease struct {
	id       uint64
	expires  time.Time
	released chan struct{} // closed when the lease ends
}

// New returns an empty store using the real clock.
func New() *Store {
	return &Store{
		recs:   make(map[string]*store.Record),
		leases: make(map[string]*lease),
		now:    time.Now,
		fail:   make(map[Op]error),
		calls:  make(map[Op]int),
	}
}

// SetClock replaces the clock used for expiry, LastAccess and lease ttls.
func (s *Store) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// Fail makes every later call of op return err (nil restores success).
func (s *Store) Fail(op Op, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		delete(s.fail, op)
		return
	}
	s.fail[op] = err
}

// SetDelay makes every call wait d first (honouring its context), like a
// slow network.
func (s *Store) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// SetMaxBytes makes Apply fail with store.ErrTooLarge when a session's
// fields would exceed n bytes (keys plus values). Zero: no limit.
func (s *Store) SetMaxBytes(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.maxBytes = n
}

// Calls returns how many times op was called.
func (s *Store) Calls(op Op) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// LocalTokens returns how many tokens were minted with local=true.
func (s *Store) LocalTokens() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.localTokens
}

// Peek returns a copy of the stored record, expired or not, without
// counting a call.
func (s *Store) Peek(token string) (store.Record, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.recs[token]
	if !ok {
		return store.Record{}, false
	}
	return clone(r), true
}

// Put stores rec under token as is (Version included), for tests that need
// a session the middleware did not write: corrupt values, another kind.
func (s *Store) Put(token string, rec store.Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := clone(&rec)
	s.recs[token] = &c
}

// Len returns the number of stored sessions, expired ones included.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.recs)
}

// Tokens returns the tokens of the stored records, expired ones included,
// sorted.
func (s *Store) Tokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.recs))
}

// OnExpire registers fn to be called once per session removed by Sweep.
func (s *Store) OnExpire(fn func(token string, r store.Record)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onExpire = append(s.onExpire, fn)
}

// Sweep removes expired sessions and calls the OnExpire functions for each,
// outside the lock. It returns how many expired.
func (s *Store) Sweep() int {
	s.mu.Lock()
	now := s.now()
	type gone struct {
		token string
		rec   store.Record
	}
	var expired []gone
	for tok, r := range s.recs {
		if isExpired(r, now) {
			expired = append(expired, gone{tok, clone(r)})
			delete(s.recs, tok)
		}
	}
	fns := slices.Clone(s.onExpire)
	s.mu.Unlock()
	for _, g := range expired {
		for _, fn := range fns {
			fn(g.token, g.rec)
		}
	}
	return len(expired)
}

// enter counts a call, applies the delay and returns an injected failure.
func (s *Store) enter(ctx context.Context, op Op) error {
	s.mu.Lock()
	s.calls[op]++
	delay, err := s.delay, s.fail[op]
	s.mu.Unlock()
	if delay > 0 {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return fmt.Errorf("memstore: %s: %w: %w", op, store.ErrUnavailable, ctx.Err())
		}
	}
	if err != nil {
		return fmt.Errorf("memstore: %s: %w", op, err)
	}
	return nil
}

func validToken(tok string) error {
	if tok == "" || len(tok) > store.MaxTokenLen {
		return fmt.Errorf("memstore: %w", store.ErrInvalidToken)
	}
	return nil
}

// NewToken returns 256 random bits, URL-safe base64 without padding.
func (s *Store) NewToken(local bool) (string, error) {
	if err := s.enter(context.Background(), OpNewToken); err != nil {
		return "", err
	}
	if local {
		s.mu.Lock()
		s.localTokens++
		s.mu.Unlock()
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("memstore: token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

func isExpired(r *store.Record, now time.Time) bool {
	d := r.Deadline()
	return !d.IsZero() && !now.Before(d)
}

// clone copies r deeply enough that the caller cannot race the store.
func clone(r *store.Record) store.Record {
	c := *r
	c.Fields = maps.Clone(r.Fields)
	return c
}
