package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/e5b1d45c/sessring/internal/wire"
	"slices"
	"time"
)

// The scs Store methods (Find, Commit, Delete and their Ctx forms) accept
// the tokens scs mints: 1 to MaxTokenLen bytes of the URL-safe base64
// alphabet (wellFormed). scs hands Find and Delete whatever cookie the client
// sent, and its contract is that a tampered or malformed token is simply not
// found: an error there would be a 500 for any client that sends a
// 300-byte cookie. Commit only sees tokens the application minted, so a
// malformed one there is a bug and fails with ErrInvalidToken.

// Find returns the opaque value committed for token. A missing or expired
// session, or a malformed token, is (nil, false, nil); err is for system
// failures only. It satisfies scs's Store.
//
// The returned slice belongs to the caller, who may modify or retain it: it
// is never the node's stored copy.
func (n *Node) Find(token string) ([]byte, bool, error) {
	return n.FindCtx(context.Background(), token)
}

// Commit stores b for token until expiry (zero: no expiry), replacing any
// previous value. In Sync mode it returns after owner and replica hold it.
// A malformed token fails with ErrInvalidToken. b is not retained.
func (n *Node) Commit(token string, b []byte, expiry time.Time) error {
	return n.CommitCtx(context.Background(), token, b, expiry)
}

// Delete removes token; a missing session or a malformed token is a no-op
// that returns nil.
func (n *Node) Delete(token string) error {
	return n.DeleteCtx(context.Background(), token)
}

// FindCtx is Find with a context (scs CtxStore).
func (n *Node) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	if !wellFormed(token) {
		return nil, false, nil
	}
	e, err := n.load(ctx, token)
	if err != nil || e == nil {
		return nil, false, err
	}
	if e.kind != KindBytes {
		return nil, false, fmt.Errorf("store: find %s: %w", shortToken(token), ErrKindMismatch)
	}
	if e.reply {
		return e.value, true, nil // decoded from a reply frame of this call alone
	}
	return bytes.Clone(e.value), true, nil // the stored entry is shared
}

// CommitCtx is Commit with a context (scs CtxStore).
func (n *Node) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	if !wellFormed(token) {
		return fmt.Errorf("store: commit: %w", ErrInvalidToken)
	}
	_, _, err := n.writeOp(ctx, token, &writeOp{kind: opCommit, value: b, expiry: unixNano(expiry)})
	return err
}

// DeleteCtx is Delete with a context (scs CtxStore).
func (n *Node) DeleteCtx(ctx context.Context, token string) error {
	if !wellFormed(token) {
		return nil // nothing can be stored under it (CommitCtx)
	}
	_, _, err := n.writeOp(ctx, token, &writeOp{kind: opDelete})
	if err == nil {
		n.stats.deletes.Add(1)
	}
	return err
}

// Load returns the session record for token; (zero, false, nil) when it is
// missing or expired. Expired data is never returned. The record shares the
// node's stored copy: its Value and Fields must not be modified.
//
// Load accepts any token of 1 to MaxTokenLen bytes, also outside the scs
// alphabet (package middleware keeps internal records under such keys), and
// fails with ErrInvalidToken for an empty or longer one: unlike Find, whose
// caller passes on what the client sent, a caller of the native API is
// expected to check client input first (middleware.ValidateToken), so a bad
// token here is a bug worth reporting.
func (n *Node) Load(ctx context.Context, token string) (Record, bool, error) {
	e, err := n.load(ctx, token)
	if err != nil || e == nil {
		return Record{}, false, err
	}
	return e.record(), true, nil
}

// load returns token's live entry, nil when missing or expired. The entry is
// the stored one (shared, immutable) unless e.reply says it came from a
// reply frame of this call.
func (n *Node) load(ctx context.Context, token string) (*entry, error) {
	if !validToken(token) {
		return nil, fmt.Errorf("store: load: %w", ErrInvalidToken)
	}
	if n.closed.Load() {
		return nil, ErrClosed
	}
	n.stats.reads.Add(1)
	var start time.Time
	if n.cfg.Observer != nil {
		start = time.Now()
	}
	e, ok := n.localFastRead(token)
	if ok {
		n.observeOp(OpReadLocal, start)
		return e, nil
	}
	deadline := n.opDeadline(ctx, time.Now())
	if e, ok = n.firstRemoteRead(ctx, deadline, token); ok {
		n.observeOp(OpReadForwarded, start)
		return e, nil
	}
	ctx, cancel := withDeadline(ctx, deadline)
	defer cancel()
	e, err := n.read(ctx, token)
	if n.cfg.Observer != nil {
		n.observeOp(n.pathOf(token, OpReadLocal, OpReadForwarded), start)
	}
	if err != nil {
		return nil, fmt.Errorf("store: load %s: %w", shortToken(token), n.closedErr(err))
	}
	return e, nil
}

// Apply changes a field session atomically at its owner and returns the
// result (read-only, as Load's). Like Load it accepts any token of 1 to
// MaxTokenLen bytes and fails with ErrInvalidToken otherwise. Only the fields named in m change, so concurrent requests that
// touch different fields never overwrite each other. A missing session is
// created (as KindFields) unless m changes nothing.
func (n *Node) Apply(ctx context.Context, token string, m Mutation) (Record, error) {
	e, _, err := n.writeOp(ctx, token, &writeOp{kind: opApply, mut: m})
	if err != nil || e == nil {
		return Record{}, err
	}
	return e.record(), nil
}

// Lock takes a cluster-wide exclusive lease on token, held at the session's
// owner, waiting until it is free or ctx ends (ErrLocked). The lease expires
// after ttl if not released, so a crashed holder cannot block the session.
// Pass the lease in Mutation.Lease to make writes fail (ErrLeaseLost) once
// the lease is no longer held.
//
// A Lock that fails may still have reached the owner (its reply lost, or its
// request held up in a connection until a partition healed); the node then
// abandons the request in the background, so that a lease granted to it is
// freed at once rather than after ttl.
func (n *Node) Lock(ctx context.Context, token string, ttl time.Duration) (uint64, error) {
	op := &writeOp{kind: opLock, ttl: ttl, lease: randUint64() | 1}
	_, lease, err := n.writeOp(ctx, token, op)
	if err == nil {
		// Earlier attempts may wait or hold a grant at nodes that no
		// longer own the session.
		if stale := slices.DeleteFunc(slices.Clone(op.sentTo), func(a string) bool { return a == op.grantedBy }); len(stale) > 0 {
			n.abandonLock(token, op.lease, ttl, stale)
		}
	} else {
		n.locks.abandon(token, op.lease, n.now()) // in case it was granted here
		if len(op.sentTo) > 0 {
			n.abandonLock(token, op.lease, ttl, op.sentTo)
		}
		if ctxEnded(ctx) && !errors.Is(err, ErrLocked) {
			// The wait ran out on the way back from the owner: same outcome.
			err = fmt.Errorf("%w: %w", ErrLocked, err)
		}
	}
	return lease, err
}

// abandonLock tells every node a lock request was sent to that its caller
// gave up on it (the request may still arrive there, or may have been
// granted with the reply lost). The abandon queue retries each until it has
// heard or ttl, the longest a lease granted to the request could last, has
// passed: a node across a partition hears when it heals, in time to free
// the lease.
func (n *Node) abandonLock(token string, nonce uint64, ttl time.Duration, addrs []string) {
	var enc wire.Encoder
	header{n.name, 0}.encode(&enc)
	enc.String(token)
	(&writeOp{kind: opUnlock, lease: nonce, ttl: -1}).encode(&enc)
	n.abandons.add(enc.B, addrs, n.now().Add(ttl))
}

// Unlock releases a lease taken by Lock. Releasing a lease that expired or
// was lost is not an error.
func (n *Node) Unlock(ctx context.Context, token string, lease uint64) error {
	_, _, err := n.writeOp(ctx, token, &writeOp{kind: opUnlock, lease: lease})
	return err
}

func (n *Node) writeOp(ctx context.Context, token string, op *writeOp) (*entry, uint64, error) {
	if !validToken(token) {
		return nil, 0, fmt.Errorf("store: write: %w", ErrInvalidToken)
	}
	if op.kind == opCommit && len(op.value) > n.cfg.MaxValueBytes {
		return nil, 0, fmt.Errorf("store: commit: %w: %d bytes, limit %d", ErrTooLarge, len(op.value), n.cfg.MaxValueBytes)
	}
	if n.closed.Load() {
		return nil, 0, ErrClosed
	}
	if op.kind == opCommit || op.kind == opApply || op.kind == opDelete {
		op.id = n.nextOpID()
	}
	ctx, cancel := n.opContext(ctx)
	defer cancel()
	timed := n.cfg.Observer != nil && op.kind != opLock && op.kind != opUnlock // lock waits are not write latency
	var start time.Time
	if timed {
		start = time.Now()
	}
	e, lease, err := n.write(ctx, token, op)
	if timed {
		n.observeOp(n.pathOf(token, OpWriteLocal, OpWriteForwarded), start)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("store: write %s: %w", shortToken(token), n.closedErr(err))
	}
	return e, lease, nil
}

// pathOf returns local when this node owns token in its current view, else
// forwarded: how the operation that just ended was (most likely) served.
func (n *Node) pathOf(token string, local, forwarded Op) Op {
	if v := n.view.Load(); v != nil && v.table.Len() > 0 && v.table.Owner(v.table.Partition(token)) == n.name {
		return local
	}
	return forwarded
}

// closedErr makes an operation cut short by this node's own Close report
// ErrClosed, whatever layer noticed first (the rpc client, a peer).
func (n *Node) closedErr(err error) error {
	if n.closed.Load() && !errors.Is(err, ErrClosed) {
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return err
}

// shortToken is a log-safe prefix of a token: enough to correlate, too short
// to use.
func shortToken(t string) string {
	if len(t) > 6 {
		return t[:6] + "…"
	}
	return t
}
