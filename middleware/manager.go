package middleware

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/e5b1d45c/sessring/store"
)

// Manager loads and saves sessions for HTTP handlers. Create it with New; it
// is safe for concurrent use and starts no goroutines, so it needs no Close.
// Several Managers (different cookie names) may wrap the same handler.
type Manager struct {
	st        Store
	cfg       Config // defaults filled in
	codec     Codec  // cfg.Codec inside the compression envelope
	log       *slog.Logger
	errorFunc func(http.ResponseWriter, *http.Request, error)
	learner   *learner
	now       func() time.Time // replaced by tests

	stats          counters
	warnedDetached atomic.Bool
	janitor        janitor // background user-index maintenance (userprune.go)
}

// New returns a Manager storing sessions in st. cfg is validated, and its
// zero fields take their defaults (start from DefaultConfig to change a
// few). Config.OnExpire requires st to implement ExpiryNotifier; it is
// registered with st for the life of st.
func New(st Store, cfg Config) (*Manager, error) {
	if st == nil {
		return nil, fmt.Errorf("%w: nil Store", ErrBadConfig)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	m := &Manager{
		st:        st,
		cfg:       cfg,
		codec:     Compressed(cfg.Codec, cfg.CompressAbove, cfg.MaxSessionBytes),
		log:       cfg.Logger,
		errorFunc: cfg.ErrorFunc,
		learner:   newLearner(cfg.LockAutoAfter),
		now:       time.Now,
	}
	if m.errorFunc == nil {
		m.errorFunc = m.defaultErrorFunc
	}
	if fn := cfg.OnExpire; fn != nil {
		n, ok := st.(ExpiryNotifier)
		if !ok {
			return nil, fmt.Errorf("%w: OnExpire is set but %T does not implement ExpiryNotifier", ErrBadConfig, st)
		}
		n.OnExpire(func(token string, r store.Record) {
			if r.Kind == store.KindFields && !isIndexToken(token) {
				fn(token)
			}
		})
	}
	if !*cfg.Cookie.HttpOnly {
		m.log.Warn("session cookie is not HttpOnly: page scripts can read it")
	}
	return m, nil
}

// sessionKey is the context key of the innermost request session.
type sessionKey struct{}

// FromContext returns the session LoadAndSave attached to ctx (the innermost
// one when several Managers are stacked).
func FromContext(ctx context.Context) (*Session, bool) {
	s, ok := ctx.Value(sessionKey{}).(*Session)
	return s, ok && s != nil
}

// Session returns this Manager's session for r. It never returns nil and
// never panics: outside LoadAndSave (a missing middleware, or a path matched
// by IgnorePattern) it returns a detached session that works in memory but
// is never saved, whose Destroy and RenewToken return ErrNoSession. That
// misuse is logged once and counted in Stats.Detached.
func (m *Manager) Session(r *http.Request) *Session {
	s, _ := FromContext(r.Context())
	for ; s != nil; s = s.outer {
		if s.m == m {
			return s
		}
	}
	m.stats.detached.Add(1)
	if m.warnedDetached.CompareAndSwap(false, true) {
		m.log.Error("Manager.Session called outside LoadAndSave; the session is not saved",
			slog.String("path", r.URL.Path))
	}
	return &Session{m: m, detached: true}
}

// withSession attaches s to ctx, keeping an outer Manager's session
// reachable.
func (m *Manager) withSession(ctx context.Context, s *Session) context.Context {
	s.outer, _ = FromContext(ctx)
	return context.WithValue(ctx, sessionKey{}, s)
}

// writeCtx bounds a store write by StoreTimeout and detaches it from the
// client: a client that hangs up must not lose an update the handler made.
func (m *Manager) writeCtx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(r.Context()), m.cfg.StoreTimeout)
}

// load reads a session, counting hits and misses.
func (m *Manager) load(ctx context.Context, token string) (store.Record, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.StoreTimeout)
	defer cancel()
	start := time.Now()
	rec, found, err := m.st.Load(ctx, token)
	d := since(&m.stats.loadNanos, start)
	if m.cfg.Observer != nil {
		m.cfg.Observer.ObserveLoad(d)
	}
	switch {
	case err != nil:
		return rec, false, fmt.Errorf("middleware: load session: %w", err)
	case found:
		m.stats.loads.Add(1)
	default:
		m.stats.loadMisses.Add(1)
	}
	return rec, found, nil
}

// apply writes a mutation, mapping the store's size limit to
// ErrSessionTooLarge.
func (m *Manager) apply(ctx context.Context, token string, mut store.Mutation) (store.Record, error) {
	start := time.Now()
	rec, err := m.st.Apply(ctx, token, mut)
	d := since(&m.stats.saveNanos, start)
	if m.cfg.Observer != nil {
		m.cfg.Observer.ObserveSave(d)
	}
	switch {
	case errors.Is(err, store.ErrTooLarge):
		m.stats.tooLarge.Add(1)
		return rec, fmt.Errorf("%w: %w", ErrSessionTooLarge, err)
	case err != nil:
		return rec, fmt.Errorf("middleware: write session: %w", err)
	}
	return rec, nil
}

// create stores mut (a Create) under a fresh token. A token collision is
// retried once with another token.
func (m *Manager) create(ctx context.Context, mut store.Mutation) (string, store.Record, error) {
	for attempt := 0; ; attempt++ {
		tok, err := m.st.NewToken(m.cfg.Sticky)
		if err != nil {
			return "", store.Record{}, fmt.Errorf("middleware: new token: %w", err)
		}
		check, err := m.listFirst(ctx, mut.Set, tok)
		if err != nil {
			return "", store.Record{}, err
		}
		rec, err := m.apply(ctx, tok, mut)
		if errors.Is(err, store.ErrConflict) && attempt == 0 {
			continue
		}
		if err == nil && check != "" {
			m.schedulePrune(check)
		}
		return tok, rec, err
	}
}

// checkSize refuses a session of n stored bytes over MaxSessionBytes.
func (m *Manager) checkSize(n int) error {
	if n > m.cfg.MaxSessionBytes {
		m.stats.tooLarge.Add(1)
		return fmt.Errorf("%w: %d bytes, limit %d", ErrSessionTooLarge, n, m.cfg.MaxSessionBytes)
	}
	return nil
}

// eventLocked queues a hook to run after s.mu is released (a hook may use
// the session).
func (s *Session) eventLocked(fn func(string), token string) {
	if fn != nil {
		s.events = append(s.events, func() { fn(token) })
	}
}

func (s *Session) takeEventsLocked() []func() {
	ev := s.events
	s.events = nil
	return ev
}

func runEvents(events []func()) {
	for _, fn := range events {
		fn()
	}
}
