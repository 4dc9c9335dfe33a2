package store

import (
	"context"
	"fmt"
)

// Restore: an owner that misses a session in memory, with a Backup set,
// reads it from the cold tier (backupQueue.load, which remembers recent
// misses and collapses concurrent loads) and puts it back on owner and
// replica. Rehydrating a passivated stub is the other read of the cold
// tier (passivate.go).

// restore serves an owner miss from the backup (after a full restart, say)
// and puts the session back on owner and replica. The fetch runs outside
// the partition's write lock: a slow or hanging backup delays the requests
// for this token, not every write to the partition.
func (n *Node) restore(ctx context.Context, v *view, p int, token string) (*entry, error) {
	e, err := n.backup.load(ctx, token)
	part := n.parts[p]
	part.wmu.Lock()
	defer part.wmu.Unlock()
	return n.installRestored(ctx, v, p, token, e, err)
}

// installRestored puts e, fetched from the backup with error err, back on
// owner and replica, unless the partition holds the token by now (a write,
// a delete or another restore came first). The partition's write lock is
// held.
func (n *Node) installRestored(ctx context.Context, v *view, p int, token string, e *entry, err error) (*entry, error) {
	part := n.parts[p]
	if cur := part.get(token); cur != nil {
		return liveOrNil(cur, n.now()), nil // someone restored or wrote it meanwhile
	}
	if err != nil {
		// The live copies are authoritative; a cold tier that is down only
		// means a session not in the cluster cannot be restored now. Reads
		// treat that as "not found"; writes that depend on the old value
		// fail (see ownerWrite).
		n.log.Warn("backup restore failed", "token", shortToken(token), "err", err)
		return nil, fmt.Errorf("%w: restore: %w", ErrBackup, err)
	}
	if e == nil || !e.live(n.now().UnixNano()) {
		return nil, nil
	}
	e.backed.Store(true)
	if _, err := n.replicateAndInstall(ctx, v, p, token, nil, e); err != nil {
		return nil, err
	}
	n.backup.restored.Add(1)
	return e, nil
}
