package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang/groupcache/singleflight"
)

// backupQueue moves committed versions to the cold tier. In write-behind mode
// it keeps only the latest version per session (coalescing) and flushes every
// BackupDelay; failed writes stay queued and are retried with backoff. The
// queue is bounded: past BackupQueue sessions, new ones are dropped and
// counted, never silently.
type backupQueue struct {
	n  *Node
	b  Backup
	sf singleflight.Group

	// mu guards pending.
	mu      sync.Mutex
	pending map[string]*entry

	queued, written, deleted, failed, dropped, restored atomic.Uint64
	wg                                                  sync.WaitGroup
	stop                                                chan struct{}
}

// BackupStats counts the cold tier's work on this node.
type BackupStats struct {
	// Pending sessions waiting to be written (write-behind).
	Pending int
	// Queued versions, Written puts, Deleted removals, Failed attempts
	// (retried), Dropped versions refused because the queue was full, and
	// Restored sessions loaded back from the backup.
	Queued, Written, Deleted, Failed, Dropped, Restored uint64
}

func newBackupQueue(n *Node) *backupQueue {
	return &backupQueue{n: n, b: n.cfg.Backup, pending: make(map[string]*entry), stop: make(chan struct{})}
}

func (q *backupQueue) start() {
	q.wg.Add(1)
	go q.loop()
}

func (q *backupQueue) close() {
	close(q.stop)
	q.wg.Wait()
	// One last flush so a graceful shutdown loses nothing queued.
	ctx, cancel := context.WithTimeout(context.Background(), q.n.cfg.HandoverTimeout)
	defer cancel()
	q.flush(ctx)
}

// enqueue records that token's latest version must reach the backup.
func (q *backupQueue) enqueue(token string, e *entry) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, ok := q.pending[token]; !ok && len(q.pending) >= q.n.cfg.BackupQueue {
		q.dropped.Add(1)
		return
	}
	q.pending[token] = e
	q.queued.Add(1)
}

// writeThrough stores one version now (write-through mode).
func (q *backupQueue) writeThrough(ctx context.Context, token string, e *entry) error {
	if err := q.put(ctx, token, e); err != nil {
		return fmt.Errorf("%w: %w", ErrBackup, err)
	}
	return nil
}

func (q *backupQueue) put(ctx context.Context, token string, e *entry) error {
	var err error
	if e.deleted {
		err = q.b.Delete(ctx, token)
		q.deleted.Add(1)
	} else {
		var exp time.Time
		if d := e.deadline(); d != 0 {
			exp = time.Unix(0, d)
		}
		err = q.b.Put(ctx, token, marshalEntry(token, e), exp)
		q.written.Add(1)
	}
	if err != nil {
		q.failed.Add(1)
	}
	return err
}

func (q *backupQueue) loop() {
	defer q.wg.Done()
	delay := q.n.cfg.BackupDelay
	backoff := delay
	t := time.NewTimer(delay)
	defer t.Stop()
	for {
		select {
		case <-q.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*q.n.cfg.CallTimeout)
		failures := q.flush(ctx)
		cancel()
		if failures > 0 {
			backoff = min(backoff*2, 30*time.Second)
			q.n.log.Warn("backup writes failed, will retry", "failed", failures, "retry_in", backoff)
		} else {
			backoff = delay
		}
		t.Reset(backoff)
	}
}

// flush writes everything pending; failed sessions go back to the queue
// unless a newer version arrived meanwhile. It returns the failure count.
func (q *backupQueue) flush(ctx context.Context) int {
	q.mu.Lock()
	batch := q.pending
	q.pending = make(map[string]*entry, len(batch))
	q.mu.Unlock()
	failures := 0
	for token, e := range batch {
		if err := q.put(ctx, token, e); err != nil {
			failures++
			q.mu.Lock()
			if _, newer := q.pending[token]; !newer {
				q.pending[token] = e
			}
			q.mu.Unlock()
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				q.requeueRest(batch, token)
				return failures
			}
		}
	}
	return failures
}

func (q *backupQueue) requeueRest(batch map[string]*entry, after string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for token, e := range batch {
		if _, ok := q.pending[token]; !ok {
			q.pending[token] = e
		}
	}
}

// load fetches token from the backup, collapsing concurrent loads.
func (q *backupQueue) load(ctx context.Context, token string) (*entry, error) {
	v, err := q.sf.Do(token, func() (any, error) {
		data, ok, err := q.b.Get(ctx, token)
		if err != nil || !ok {
			return (*entry)(nil), err
		}
		return unmarshalEntry(token, data)
	})
	if err != nil {
		return nil, err
	}
	return v.(*entry), nil
}

// passivate would free need bytes by dropping sessions already safe in the
// backup. Not implemented yet: the node refuses with ErrFull instead.
func (q *backupQueue) passivate(need int64) bool { return false }

func (q *backupQueue) stats() BackupStats {
	q.mu.Lock()
	p := len(q.pending)
	q.mu.Unlock()
	return BackupStats{Pending: p, Queued: q.queued.Load(), Written: q.written.Load(), Deleted: q.deleted.Load(),
		Failed: q.failed.Load(), Dropped: q.dropped.Load(), Restored: q.restored.Load()}
}

// restore serves an owner miss from the backup (after a full restart, say)
// and puts the session back on owner and replica.
func (n *Node) restore(ctx context.Context, v *view, p int, token string) (*entry, error) {
	part := n.parts[p]
	part.wmu.Lock()
	defer part.wmu.Unlock()
	return n.restoreLocked(ctx, v, p, token)
}

func (n *Node) restoreLocked(ctx context.Context, v *view, p int, token string) (*entry, error) {
	part := n.parts[p]
	if cur := part.get(token); cur != nil {
		return liveOrNil(cur), nil // someone restored or wrote it meanwhile
	}
	e, err := n.backup.load(ctx, token)
	if err != nil {
		// The live copies are authoritative; a cold tier that is down only
		// means a session not in the cluster cannot be restored now.
		n.log.Warn("backup restore failed", "token", shortToken(token), "err", err)
		return nil, nil
	}
	if e == nil || !e.live(time.Now().UnixNano()) {
		return nil, nil
	}
	if _, err := n.replicateAndInstall(ctx, v, p, token, nil, e); err != nil {
		return nil, err
	}
	n.backup.restored.Add(1)
	return e, nil
}
