package middleware

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/e5b1d45c/sessring/store"
)

// LoadAndSave is the middleware. For each request it takes the session lock
// if the locking policy asks for it, loads the session named by the request's
// token, and hands the handler a request whose context carries it. The
// session is saved, and the cookie set, just before the response headers are
// written (the first Write or WriteHeader) or when the handler returns,
// whichever comes first; the body is not buffered. Changes made after the
// headers went out are saved when the handler returns (except for a new
// session, whose cookie can no longer be sent).
//
// A load or lock failure answers through ErrorFunc without calling the
// handler: a store outage is a 503, never a silently empty session. Paths
// matching IgnorePattern pass through untouched.
func (m *Manager) LoadAndSave(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if matches(m.cfg.IgnorePattern, r) {
			m.stats.ignored.Add(1)
			next.ServeHTTP(w, r)
			return
		}
		m.stats.requests.Add(1)
		m.addVary(w.Header())
		route := routeKey(r)
		plan := m.lockPlan(r, route)
		s, err := m.open(r, plan.lock)
		if err != nil {
			m.fail(w, r, err)
			return
		}
		defer s.release(r)
		r = r.WithContext(m.withSession(r.Context(), s))
		sw := &responseWriter{ResponseWriter: w, s: s, r: r}
		next.ServeHTTP(sw, r)
		sw.finish()
		m.afterRequest(route, plan, s, sw.failed())
	})
}

// open builds the request's session from the first token that names a
// stored session, locking it first when lock is set.
func (m *Manager) open(r *http.Request, lock bool) (*Session, error) {
	s := &Session{m: m}
	for _, tok := range m.requestTokens(r) {
		found, err := s.tryLoad(r, tok, lock)
		if err != nil {
			s.release(r)
			return nil, err
		}
		if found {
			return s, nil
		}
	}
	return s, nil
}

// tryLoad locks (if asked) and loads tok. A token that names nothing, or a
// session of another kind, leaves s new and marks the client's cookie stale.
func (s *Session) tryLoad(r *http.Request, tok string, lock bool) (bool, error) {
	m := s.m
	if lock {
		lease, err := m.lock(r.Context(), tok)
		if err != nil {
			return false, err
		}
		s.lockToken, s.lease = tok, lease
	}
	rec, found, err := m.load(r.Context(), tok)
	if err != nil {
		return false, err
	}
	if found && rec.Kind != store.KindFields {
		m.stats.badTokens.Add(1)
		m.log.Warn("session token names a session of another kind; starting a new session",
			slog.Int("kind", int(rec.Kind)))
		found = false
	}
	if !found {
		s.release(r)
		s.stale = true
		return false, nil
	}
	s.token, s.presented, s.exists, s.rec = tok, tok, true, rec
	s.loadedDead = rec.Deadline()
	s.remember = rememberFrom(rec.Fields[persistKey])
	return true, nil
}

func rememberFrom(b []byte) int8 {
	switch string(b) {
	case "1":
		return 1
	case "0":
		return -1
	}
	return 0
}

// lock takes the session's lease within LockWait. It never lets a request
// proceed unlocked: a timeout is ErrLockTimeout, other failures are errors.
func (m *Manager) lock(ctx context.Context, tok string) (uint64, error) {
	lctx, cancel := context.WithTimeout(ctx, m.cfg.LockWait)
	defer cancel()
	start := time.Now()
	lease, err := m.st.Lock(lctx, tok, m.cfg.LockTTL)
	since(&m.stats.lockNanos, start)
	switch {
	case err == nil:
		m.stats.lockAcquired.Add(1)
		return lease, nil
	case ctx.Err() != nil:
		return 0, fmt.Errorf("middleware: lock session: %w", ctx.Err())
	case errors.Is(err, store.ErrLocked) || errors.Is(err, context.DeadlineExceeded):
		m.stats.lockTimeouts.Add(1)
		return 0, fmt.Errorf("%w after %v: %w", ErrLockTimeout, m.cfg.LockWait, err)
	}
	return 0, fmt.Errorf("middleware: lock session: %w", err)
}

// release gives the lease back, if the request holds one. Failure is only
// logged: the lease expires after LockTTL anyway.
func (s *Session) release(r *http.Request) {
	s.mu.Lock()
	tok, lease := s.lockToken, s.lease
	s.lockToken, s.lease = "", 0
	s.mu.Unlock()
	if lease == 0 {
		return
	}
	ctx, cancel := s.m.writeCtx(r)
	defer cancel()
	if err := s.m.st.Unlock(ctx, tok, lease); err != nil {
		s.m.log.Warn("session unlock failed; the lease expires after LockTTL",
			slog.Duration("lock_ttl", s.m.cfg.LockTTL), slog.Any("error", err))
	}
}

// afterRequest updates the counters and the LockAuto learner. failed: the
// response was an error (4xx, 5xx), from the handler or the middleware.
func (m *Manager) afterRequest(route string, plan lockPlan, s *Session, failed bool) {
	s.mu.Lock()
	modified, writes := s.status != Unmodified, s.writes
	s.mu.Unlock()
	if writes == 0 {
		m.stats.skipped.Add(1)
	}
	if !plan.learn {
		return
	}
	m.learner.observe(route, modified, failed, m.now())
	if plan.learned && modified {
		m.stats.autoMisses.Add(1)
	}
}
