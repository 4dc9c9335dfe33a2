package middleware

import (
	"context"
	"fmt"
	"sync"
)

// maxPendingPrunes bounds the users waiting for an index check; past it a
// request is dropped, and the next login of that user asks again.
const maxPendingPrunes = 1024

// janitor checks user indexes outside the requests that grow them: it drops
// the entries of ended sessions and ends the oldest sessions of a user past
// Config.MaxSessionsPerUser. Its goroutine runs only while users wait, and
// Manager.Close waits for it.
type janitor struct {
	mu      sync.Mutex // guards pending, running, closed
	pending map[string]bool
	running bool
	closed  bool
	wg      sync.WaitGroup
}

// schedulePrune asks for user's index to be checked, and returns at once.
func (m *Manager) schedulePrune(user string) {
	j := &m.janitor
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed || len(j.pending) >= maxPendingPrunes {
		return
	}
	if j.pending == nil {
		j.pending = make(map[string]bool)
	}
	j.pending[user] = true
	if !j.running {
		j.running = true
		j.wg.Add(1)
		go m.pruneLoop()
	}
}

// pruneLoop checks the indexes of waiting users until none waits.
func (m *Manager) pruneLoop() {
	j := &m.janitor
	defer j.wg.Done()
	for {
		j.mu.Lock()
		user, ok := "", false
		for u := range j.pending {
			user, ok = u, true
			break
		}
		if !ok || j.closed {
			j.running = false
			j.mu.Unlock()
			return
		}
		delete(j.pending, user)
		j.mu.Unlock()
		m.pruneUser(context.Background(), user)
	}
}

// pruneUser drops the dead entries of user's index and ends the oldest live
// sessions beyond MaxSessionsPerUser. Failures are logged: the next check
// tries again.
//
// A check whose dead entries could not be dropped because a login changed
// the index meanwhile is asked for again: under a stream of logins the
// index would otherwise grow until the next check was due.
func (m *Manager) pruneUser(ctx context.Context, user string) {
	live, raced, err := m.checkUser(ctx, user)
	if raced {
		defer m.schedulePrune(user)
	}
	limit := m.cfg.MaxSessionsPerUser
	if err != nil || limit <= 0 || len(live) <= limit {
		if err != nil {
			m.log.Warn("user index check incomplete", "error", err)
		}
		return
	}
	var ended []string
	for _, l := range live[:len(live)-limit] { // oldest first
		dctx, cancel := context.WithTimeout(ctx, m.cfg.StoreTimeout)
		err := m.st.DeleteCtx(dctx, l.token)
		cancel()
		if err != nil {
			m.log.Warn("session over the per-user cap not ended", "session", l.info.ID, "error", fmt.Errorf("middleware: %w", err))
			continue
		}
		ended = append(ended, l.token)
		m.stats.capped.Add(1)
		if fn := m.cfg.OnDestroy; fn != nil {
			fn(l.token)
		}
	}
	m.indexRemove(ctx, user, 0, ended...)
}

// Close waits for background user-index maintenance to finish and stops
// it; the Manager keeps serving requests. Calling it is optional (the
// maintenance goroutine exits on its own once idle), and idempotent.
func (m *Manager) Close() error {
	j := &m.janitor
	j.mu.Lock()
	j.closed = true
	j.mu.Unlock()
	j.wg.Wait()
	return nil
}
