package store

import (
	"context"
	"fmt"
	"slices"

	"github.com/e5b1d45c/sessring/store/internal/admit"
)

// Passivation: a node over MaxBytes drops the bodies of its least recently
// used sessions whose exact version is already in the backup, keeping a stub
// (version, deadlines, access time) so versions, digests and merges behave
// as before. A stub is loaded back from the backup when it is next used. A
// copy qualifies when this node knows its version is stored: the owner's
// copies once its write-behind or write-through put succeeded, a replica's
// copies in write-through mode (the owner writes the backup first).

// passivate frees at least need bytes by stubbing backed-up sessions. It
// reports whether enough was freed.
func (n *Node) passivate(need int64) bool {
	if n.backup == nil {
		return false
	}
	type cand struct {
		p     int
		token string
		e     *entry
	}
	var cands []cand
	for p, part := range n.parts {
		for _, te := range part.snapshot() {
			if te.e.backed.Load() && !te.e.stub && !te.e.deleted {
				cands = append(cands, cand{p, te.token, te.e})
			}
		}
	}
	slices.SortFunc(cands, func(a, b cand) int { return int(a.e.access - b.e.access) })
	target := admit.Target(need, n.cfg.MaxBytes) // beyond need: no scan on every write
	var freed int64
	for _, c := range cands {
		if freed >= target {
			break
		}
		stub := c.e.clone()
		stub.stub, stub.value, stub.fields = true, nil, nil
		stub.computeSize(c.token)
		if n.parts[c.p].install(c.token, c.e, stub, &n.used) {
			freed += int64(c.e.size - stub.size)
			n.backup.passivated.Add(1)
		}
	}
	return freed >= need
}

// rehydrate replaces a stub by the full version from the backup (or, if the
// backup lost it, from the other holder).
func (n *Node) rehydrate(ctx context.Context, v *view, p int, token string, stub *entry) (*entry, error) {
	full, err := n.backup.load(ctx, token)
	if err == nil && full != nil && full.version == stub.version {
		full.access, full.expiry, full.idle = max(full.access, stub.access), stub.expiry, stub.idle
		full.computeSize(token)
		full.backed.Store(true)
		if err := n.reserve(int64(full.size - stub.size)); err != nil {
			return nil, err
		}
		if n.parts[p].install(token, stub, full, &n.used) {
			n.backup.rehydrated.Add(1)
		}
		return n.parts[p].get(token), nil
	}
	// The backup no longer has this version: the other holder may.
	if err := n.fetchFromPeers(ctx, v, p, token); err == nil {
		if e := n.parts[p].get(token); e != nil && !e.stub {
			return e, nil
		}
	}
	return nil, fmt.Errorf("%w: passivated session %s is missing from the backup (%v)", ErrUnavailable, shortToken(token), err)
}

// fetchFromPeers asks the other current holder of p for token.
func (n *Node) fetchFromPeers(ctx context.Context, v *view, p int, token string) error {
	o, r := v.table.Holders(p)
	peer := o
	if o == n.name {
		peer = r
	}
	if peer == "" {
		return errNotReady
	}
	e, _, err := n.pullKeyFrom(ctx, v, peer, token)
	if err == nil && e != nil {
		n.parts[p].merge(token, e, &n.used)
	}
	return err
}

// loadFull returns token's entry at p with its body, rehydrating a stub.
func (n *Node) loadFull(ctx context.Context, v *view, p int, token string) (*entry, error) {
	e := n.parts[p].get(token)
	if e == nil || !e.stub || e.deleted {
		return e, nil
	}
	if n.backup == nil {
		return nil, fmt.Errorf("%w: stub without a backup", ErrUnavailable)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*n.cfg.CallTimeout)
	defer cancel()
	return n.rehydrate(ctx, v, p, token, e)
}
