package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/e5b1d45c/sessring/internal/rpc"
	"github.com/e5b1d45c/sessring/internal/wire"
)

// retry runs attempt with the current view until it succeeds, fails for
// good, or ctx ends. Membership changes (a node died, joined or left) show up
// as retryable errors for the few hundred milliseconds views take to agree.
func (n *Node) retry(ctx context.Context, attempt func(v *view) error) error {
	backoff := time.Millisecond
	for {
		if n.closed.Load() {
			return ErrClosed
		}
		v := n.view.Load()
		var err error
		if v == nil || v.table.Len() == 0 {
			err = errNotReady
		} else {
			err = attempt(v)
		}
		if err == nil || !retryable(err) {
			return err
		}
		n.stats.retries.Add(1)
		t := time.NewTimer(backoff/2 + rand.N(backoff))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w: %w", ErrUnavailable, errors.Join(ctx.Err(), err))
		case <-n.stop:
			t.Stop()
			return ErrClosed
		case <-t.C:
		}
		backoff = min(backoff*2, 50*time.Millisecond)
	}
}

// read returns the current entry for token (nil when missing or expired).
// Reads go to the owner only. (An earlier version let the replica answer
// when the owner was unreachable; the linearizability check showed that a
// cut-off replica cannot know whether the owner has moved on to a new
// replica, so it could serve an unacknowledged version. Now a dead owner's
// sessions are served once membership notices and its read lease ends.)
func (n *Node) read(ctx context.Context, token string) (*entry, error) {
	var out *entry
	err := n.retry(ctx, func(v *view) error {
		p := v.table.Partition(token)
		e, err := n.readAt(ctx, v, v.table.Owner(p), p, token)
		out = e
		return err
	})
	return out, err
}

func (n *Node) readAt(ctx context.Context, v *view, target string, p int, token string) (*entry, error) {
	if target == n.name {
		return n.localRead(ctx, v, p, token)
	}
	return n.remoteRead(ctx, time.Time{}, v, target, token)
}

// firstRemoteRead makes the first attempt of a read owned by another node
// with the operation's deadline passed to rpc as it is, rather than bound
// into a derived context: a context's timer and cancellation hook cost
// several microseconds per remote read on a small machine, a tenth of the
// round trip. ok=false (not owned elsewhere, or the attempt failed) sends
// the caller the normal way, which retries within the same deadline; a
// read is safe to repeat.
func (n *Node) firstRemoteRead(ctx context.Context, deadline time.Time, token string) (e *entry, ok bool) {
	v := n.view.Load()
	if v == nil || v.table.Len() == 0 {
		return nil, false
	}
	owner := v.table.Owner(v.table.Partition(token))
	if owner == n.name {
		return nil, false
	}
	e, err := n.remoteRead(ctx, deadline, v, owner, token)
	return e, err == nil
}

// remoteRead asks target for token's entry; a zero deadline means ctx's.
func (n *Node) remoteRead(ctx context.Context, deadline time.Time, v *view, target, token string) (*entry, error) {
	n.stats.forwarded.Add(1)
	enc := wire.Encoder{B: make([]byte, 0, len(n.name)+len(token)+16)} // no regrowth
	header{n.name, v.id()}.encode(&enc)
	enc.String(token)
	resp, err := n.callDeadline(ctx, deadline, v, target, mRead, enc.B)
	if err != nil {
		return nil, err
	}
	d := wire.NewDecoder(resp)
	e, err := decodeReplyEntry(d, token)
	if err == nil {
		err = d.Finish()
	}
	return e, err
}

// write runs op at token's owner and returns the resulting entry (nil when
// the session does not exist afterwards) and, for locks, the lease.
func (n *Node) write(ctx context.Context, token string, op *writeOp) (*entry, uint64, error) {
	var (
		out   *entry
		lease uint64
		first = n.now()
	)
	err := n.retry(ctx, func(v *view) error {
		if op.retry {
			// An earlier attempt may have been applied: the owner matches
			// the write's id against the session's history (opid.go),
			// which reaches back opMemory; stop well before that.
			if n.now().Sub(first) > opRetryWindow {
				return fmt.Errorf("%w: not confirmed within %v", ErrUncertain, opRetryWindow)
			}
		}
		now := n.now()
		op.age, op.arrived = now.Sub(first), now
		p := v.table.Partition(token)
		owner := v.table.Owner(p)
		var err error
		if owner == n.name {
			out, lease, err = n.ownerWrite(ctx, v, p, token, op)
		} else {
			out, lease, err = n.forwardWrite(ctx, v, owner, token, op)
		}
		if err != nil && !refusedUnapplied(err) {
			op.retry = true
		}
		return err
	})
	return out, lease, err
}

// refusedUnapplied reports whether a write attempt that failed with err
// certainly changed nothing anywhere: its request never left this node, or
// an owner or replica refused it at the door (not the owner, view or
// readiness mismatch, no quorum) before any version was built. Only other
// failures (a timeout, a connection lost after sending, an error during
// replication) make the next attempt a retry that must be matched against
// the session's history: on a busy session that history may be too short
// to decide, and the write fails with ErrUncertain.
func refusedUnapplied(err error) bool {
	// errPeerGone: the peer answered that it is closed, which it does
	// before looking at the request (serveRPC).
	for _, e := range []error{rpc.ErrNotSent, errPeerGone, errNotOwner, errNotReady, errNotHolder, errOtherView, errNoQuorum} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func (n *Node) forwardWrite(ctx context.Context, v *view, owner, token string, op *writeOp) (*entry, uint64, error) {
	n.stats.forwarded.Add(1)
	var enc wire.Encoder
	header{n.name, v.id()}.encode(&enc)
	enc.String(token)
	op.encode(&enc)
	if addr := v.addrs[owner]; op.kind == opLock && addr != "" && !slices.Contains(op.sentTo, addr) {
		op.sentTo = append(op.sentTo, addr)
	}
	resp, err := n.call(ctx, v, owner, mWrite, enc.B)
	if err != nil {
		return nil, 0, err
	}
	if op.kind == opLock {
		op.grantedBy = v.addrs[owner]
	}
	d := wire.NewDecoder(resp)
	lease := d.Uvarint()
	e, err := decodeReplyEntry(d, token)
	if err == nil {
		err = d.Finish()
	}
	return e, lease, err
}

// call sends one request to a member by name.
func (n *Node) call(ctx context.Context, v *view, target string, method uint8, body []byte) ([]byte, error) {
	return n.callDeadline(ctx, time.Time{}, v, target, method, body)
}

// callDeadline is call ending at deadline if ctx does not end first; zero
// means ctx's deadline (rpc.Client.CallDeadline).
func (n *Node) callDeadline(ctx context.Context, deadline time.Time, v *view, target string, method uint8, body []byte) ([]byte, error) {
	addr, ok := v.addrs[target]
	if !ok || addr == "" {
		return nil, fmt.Errorf("%w: no address for %s", errNotReady, target)
	}
	resp, err := n.client.CallDeadline(ctx, deadline, addr, method, body)
	if err == nil || isRemoteError(err) {
		n.reach.note(target, n.now()) // it answered
	}
	if err != nil {
		err = fromRemote(target, err)
		if errors.Is(err, errOtherView) || errors.Is(err, errNotOwner) || errors.Is(err, errNotHolder) {
			n.gossipWith(target)
		}
		return nil, err
	}
	return resp, nil
}

// isRemoteError reports whether err is the peer's answer. Apart from
// callDeadline so that the target errors.As needs is allocated only when a
// call failed, not on every call.
func isRemoteError(err error) bool {
	var re *rpc.RemoteError
	return errors.As(err, &re)
}
