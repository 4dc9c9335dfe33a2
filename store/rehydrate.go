package store

import (
	"context"
	"fmt"
)

// Rehydrate: a passivated session (passivate.go) keeps a stub in memory;
// loadFull, on every read and write of it, brings its body back from the
// backup, or from the other holder when the backup lost it.

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
