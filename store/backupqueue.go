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
	n      *Node
	b      Backup
	sf     singleflight.Group
	misses missCache

	// mu guards pending and flushing.
	mu      sync.Mutex
	pending map[string]*entry
	// flushing counts the versions a flush has taken out of pending and not
	// yet written or put back. They are still pending: until they are
	// written, a crash of every node loses them.
	flushing int

	queued, written, deleted, failed, dropped, restored atomic.Uint64
	passivated, rehydrated                              atomic.Uint64
	wg                                                  sync.WaitGroup
	stop                                                chan struct{}
}

// BackupStats counts the cold tier's work on this node.
type BackupStats struct {
	// Pending versions waiting to be written (write-behind), including
	// those being written at this moment: at zero, every write acknowledged
	// before is in the backup.
	Pending int
	// Queued versions, Written puts, Deleted removals, Failed attempts
	// (retried), Dropped versions that will never be written (refused
	// because the queue was full, or by the backup as too large: an error
	// wrapping ErrTooLarge), and Restored sessions loaded back from the
	// backup.
	Queued, Written, Deleted, Failed, Dropped, Restored uint64
	// Passivated session bodies dropped from memory (safe in the backup) and
	// Rehydrated ones loaded back on use.
	Passivated, Rehydrated uint64
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
	q.misses.forget(token)
	var err error
	if e.deleted {
		err = q.b.Delete(ctx, token)
		q.deleted.Add(1)
	} else {
		var exp time.Time
		if d := e.deadline(); d != 0 {
			exp = time.Unix(0, d)
		}
		err = q.b.Put(ctx, token, marshalEntry(token, e, backupFormat(q.n.writeVersion())), exp)
		q.written.Add(1)
		if err == nil {
			e.backed.Store(true) // this exact version may now be passivated
		}
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
		written, failures := q.flush(ctx)
		cancel()
		// Back off only when nothing got through (the backup is down): a
		// session that fails while others are written must not delay them.
		if failures > 0 && written == 0 {
			backoff = min(backoff*2, 30*time.Second)
		} else {
			backoff = delay
		}
		if failures > 0 {
			q.n.log.Warn("backup writes failed, will retry", "failed", failures, "written", written, "retry_in", backoff)
		}
		t.Reset(backoff)
	}
}

// flush writes everything pending; failed sessions go back to the queue
// unless a newer version arrived meanwhile, or the backup refused the value
// as too large, which no retry can change. It returns how many versions
// were written and how many failed and were put back.
func (q *backupQueue) flush(ctx context.Context) (written, failures int) {
	q.mu.Lock()
	batch := q.pending
	q.pending = make(map[string]*entry, len(batch))
	q.flushing = len(batch)
	q.mu.Unlock()
	tokens := make([]string, 0, len(batch))
	for token := range batch {
		tokens = append(tokens, token)
	}
	for i, token := range tokens {
		if q.superseded(token, batch[token]) {
			q.mu.Lock()
			q.flushing--
			q.mu.Unlock()
			continue
		}
		err := q.put(ctx, token, batch[token])
		permanent := errors.Is(err, ErrTooLarge)
		q.mu.Lock()
		q.flushing--
		if err != nil && !permanent {
			q.requeueLocked(token, batch[token])
		}
		q.mu.Unlock()
		switch {
		case err == nil:
			written++
		case permanent:
			q.dropped.Add(1)
			q.n.log.Error("session too large for the backup, not retried", "token", shortToken(token), "err", err)
		default:
			failures++
			if ctx.Err() != nil {
				q.requeueRest(batch, tokens[i+1:])
				return written, failures
			}
		}
	}
	return written, failures
}

// superseded reports whether this node holds a newer version of token
// than e, as the replica of a session whose ownership moved here from this
// node, say. The node that wrote the newer version queued it; writing e
// now could overwrite it in the backup with older data.
func (q *backupQueue) superseded(token string, e *entry) bool {
	v := q.n.view.Load()
	if v == nil {
		return false
	}
	cur := q.n.parts[v.table.Partition(token)].get(token)
	return cur != nil && cur.version > e.version
}

// requeueLocked puts a version that could not be written back in the
// queue, unless a newer one is queued already.
func (q *backupQueue) requeueLocked(token string, e *entry) {
	if _, newer := q.pending[token]; !newer {
		q.pending[token] = e
	}
}

// requeueRest puts the versions of a flush that ended early back.
func (q *backupQueue) requeueRest(batch map[string]*entry, rest []string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, token := range rest {
		q.requeueLocked(token, batch[token])
	}
	q.flushing = 0
}

// load fetches token from the backup, collapsing concurrent loads. A token
// the backup did not have a moment ago is not asked for again (misses), so
// a flood of requests for unknown tokens costs one Get per token, not one
// per request.
func (q *backupQueue) load(ctx context.Context, token string) (*entry, error) {
	if q.misses.has(token, q.n.now()) {
		return nil, nil
	}
	v, err := q.sf.Do(token, func() (any, error) {
		gen := q.misses.generation()
		data, ok, err := q.b.Get(ctx, token)
		if err != nil || !ok {
			if err == nil {
				q.misses.addSince(token, q.n.now(), gen)
			}
			return (*entry)(nil), err
		}
		return unmarshalEntry(token, data)
	})
	if err != nil {
		return nil, err
	}
	// Concurrent loads of one token share the decoded entry: each caller
	// gets its own, since rehydrate and restore change theirs before
	// installing it (the value and fields stay shared: they are immutable).
	if e := v.(*entry); e != nil {
		return e.clone(), nil
	}
	return nil, nil
}

func (q *backupQueue) stats() BackupStats {
	q.mu.Lock()
	p := len(q.pending) + q.flushing
	q.mu.Unlock()
	return BackupStats{Pending: p, Queued: q.queued.Load(), Written: q.written.Load(), Deleted: q.deleted.Load(),
		Failed: q.failed.Load(), Dropped: q.dropped.Load(), Restored: q.restored.Load(),
		Passivated: q.passivated.Load(), Rehydrated: q.rehydrated.Load()}
}
