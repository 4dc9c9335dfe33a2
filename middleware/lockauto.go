package middleware

import (
	"net/http"
	"strings"
	"sync"
)

// lockPlan is the locking decision for one request.
type lockPlan struct {
	lock     bool // take the session lock
	eligible bool // the locking policy covers this request (LockAuto learns from it)
	learned  bool // LockAuto skipped the lock: the route is trusted to be read-only
}

// lockPlan applies Locking and LockPattern to r.
func (m *Manager) lockPlan(r *http.Request, route string) lockPlan {
	if m.cfg.Locking == LockNone || (m.cfg.LockPattern != nil && !matches(m.cfg.LockPattern, r)) {
		return lockPlan{}
	}
	p := lockPlan{lock: true, eligible: true}
	if m.cfg.Locking == LockAuto && m.learner.readOnly(route) {
		p.lock, p.learned = false, true
		m.stats.autoSkipped.Add(1)
	}
	return p
}

// maxRoutes bounds the learner's memory. Routes beyond it are never learned,
// so they stay locked: a full table errs on the safe side.
const maxRoutes = 4096

// learner is LockAuto's memory: per route, how many requests in a row left
// the session unmodified. A route is trusted read-only once that streak
// reaches after; a single modifying request resets it, so the route is
// locked again until it proves itself anew. Unlocked requests are observed
// too, which is how a wrong guess is noticed.
type learner struct {
	after uint32

	// mu guards streaks.
	mu      sync.Mutex
	streaks map[string]uint32
}

func newLearner(after int) *learner {
	return &learner{after: uint32(after), streaks: make(map[string]uint32)}
}

// readOnly reports whether route is trusted not to modify sessions.
func (l *learner) readOnly(route string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, ok := l.streaks[route]
	return ok && n >= l.after
}

// observe records whether one request of route modified its session.
func (l *learner) observe(route string, modified bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, ok := l.streaks[route]
	if !ok && len(l.streaks) >= maxRoutes {
		return
	}
	switch {
	case modified:
		n = 0
	case n < l.after:
		n++
	}
	l.streaks[route] = n
}

// routeKey names the route of r for the learner. Inside a ServeMux route
// (LoadAndSave applied per handler) it is the method plus the mux pattern.
// Wrapping the whole mux, the pattern is not known yet, so it is the method
// plus the path with identifier-like segments (containing a digit, or longer
// than 24 bytes) replaced by "*": /cart/17 and /cart/42 are one route.
// Unrelated routes that collide only get locked more, never less.
func routeKey(r *http.Request) string {
	if r.Pattern != "" {
		return r.Method + " " + r.Pattern
	}
	const maxSegments = 8
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte(' ')
	path := r.URL.Path
	for i := 0; i < maxSegments && path != ""; i++ {
		seg, rest, found := strings.Cut(strings.TrimPrefix(path, "/"), "/")
		b.WriteByte('/')
		if looksLikeID(seg) {
			b.WriteByte('*')
		} else {
			b.WriteString(seg)
		}
		if !found {
			break
		}
		path = "/" + rest
	}
	return b.String()
}

func looksLikeID(seg string) bool {
	return len(seg) > 24 || strings.ContainsAny(seg, "0123456789")
}
