package middleware

import (
	"net/http"
	"strings"
	"sync"
	"time"
)

// lockPlan is the locking decision for one request.
type lockPlan struct {
	lock    bool // take the session lock
	learn   bool // LockAuto learns from this request's outcome
	learned bool // LockAuto skipped the lock: the route is trusted to be read-only
}

// lockPlan applies Locking and LockPattern to r.
func (m *Manager) lockPlan(r *http.Request, route string) lockPlan {
	if m.cfg.Locking == LockNone || (m.cfg.LockPattern != nil && !matches(m.cfg.LockPattern, r)) {
		return lockPlan{}
	}
	if m.cfg.Locking != LockAuto || !safeMethod(r.Method) {
		return lockPlan{lock: true} // unsafe methods are never learned, always locked
	}
	p := lockPlan{lock: true, learn: true}
	if m.learner.readOnly(route, m.now()) {
		p.lock, p.learned = false, true
		m.stats.autoSkipped.Add(1)
	}
	return p
}

// safeMethod reports whether method is one HTTP defines as safe (RFC 9110,
// section 9.2.1): GET, HEAD, OPTIONS, TRACE. Requests with any other method
// are meant to change state, so LockAuto always locks them, however often
// their route left the session alone: a form post that failed validation
// ten times is still the route that redeems the coupon on the eleventh.
func safeMethod(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// maxRoutes bounds the learner's memory. Routes beyond it are never learned,
// so they stay locked: a full table errs on the safe side.
const maxRoutes = 4096

// learnTTL is how long LockAuto trusts a route it learned to be read-only.
// Then the route is locked again and must prove itself anew, so a route
// that writes only in some states (a page that claims something once a
// condition holds) cannot stay unlocked for the life of the process on the
// strength of its first minutes. Relearning costs LockAutoAfter locked
// requests per route every five minutes.
const learnTTL = 5 * time.Minute

// learner is LockAuto's memory: per route, how many successful requests in
// a row left the session unmodified, and since when the route is trusted.
// A route is trusted read-only once that streak reaches after, for
// learnTTL; a single modifying request resets it, so the route is locked
// again until it proves itself anew. Unlocked requests are observed too,
// which is how a wrong guess is noticed. Failed requests (4xx, 5xx) prove
// nothing: a handler that refuses often never gets to its write.
type learner struct {
	after uint32

	// mu guards streaks.
	mu      sync.Mutex
	streaks map[string]streak
}

// streak is one route's record.
type streak struct {
	n       uint32    // unmodified successful requests in a row, up to after
	trusted time.Time // when n reached after
}

func newLearner(after int) *learner {
	return &learner{after: uint32(after), streaks: make(map[string]streak)}
}

// readOnly reports whether route is trusted not to modify sessions at now.
// Trust that ran out is dropped.
func (l *learner) readOnly(route string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.streaks[route]
	if !ok || s.n < l.after {
		return false
	}
	if now.Sub(s.trusted) >= learnTTL {
		l.streaks[route] = streak{}
		return false
	}
	return true
}

// observe records the outcome of one request of route at now: whether it
// modified its session, and whether it failed (a 4xx or 5xx answer).
func (l *learner) observe(route string, modified, failed bool, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.streaks[route]
	if !ok && len(l.streaks) >= maxRoutes {
		return
	}
	switch {
	case modified:
		s = streak{}
	case failed:
		return
	case s.n < l.after:
		s.n++
		if s.n == l.after {
			s.trusted = now
		}
	}
	l.streaks[route] = s
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
