package middleware

import (
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/e5b1d45c/sessring/store"
)

// Status tells what the current request did to its session.
type Status int

const (
	// Unmodified: nothing changed (idle touches do not count).
	Unmodified Status = iota
	// Modified: values changed, the token was renewed or RememberMe was
	// called.
	Modified
	// Destroyed: Destroy was called and nothing was put since.
	Destroyed
)

func (s Status) String() string {
	switch s {
	case Unmodified:
		return "Unmodified"
	case Modified:
		return "Modified"
	case Destroyed:
		return "Destroyed"
	}
	return "Status(" + strconv.Itoa(int(s)) + ")"
}

// ReservedKeyPrefix starts the stored field names that belong to sessring
// itself (and to adapters such as gorillastore): Put ignores such keys and
// Keys hides them.
const ReservedKeyPrefix = "sessring:"

const (
	reservedPrefix = ReservedKeyPrefix
	persistKey     = reservedPrefix + "persist" // RememberMe choice: "1" or "0"
)

// cached is a value this request read or put.
type cached struct {
	val any
	raw []byte // stored bytes val was decoded from or last written as; nil if never stored
}

// Session is one request's view of a session. LoadAndSave creates it; get it
// with FromContext or Manager.Session. Its methods are safe for concurrent
// use by the goroutines of one request.
//
// Reads decode values lazily, one key at a time. Changes are collected and
// written as one delta (only the keys that changed) when the response is
// committed: on the first Write or WriteHeader, or when the handler returns.
type Session struct {
	m        *Manager
	detached bool     // not backed by LoadAndSave: never saved
	outer    *Session // an enclosing Manager's session of the same request

	// mu guards every field below.
	mu        sync.Mutex
	token     string       // stored session's token; "" until stored
	exists    bool         // a stored record backs the session
	rec       store.Record // as loaded or last written; Fields read-only
	cache     map[string]cached
	bad       map[string]bool // stored keys that failed to decode
	dirty     map[string]bool // keys put since the last write
	deleted   map[string]bool // stored keys removed since the last write
	cleared   bool            // all stored keys removed since the last write
	status    Status
	remember  int8   // 0: Cookie.Persist decides; 1: persistent; -1: browser-session
	remDirty  bool   // remember changed since the last write
	remCalled bool   // RememberMe was called: the cookie must be re-sent
	user      string // user set by SetUser since the last write (userSet)
	userSet   bool

	presented  string    // token the client sent and we loaded
	stale      bool      // the client sent tokens that led nowhere
	loadedDead time.Time // deadline when loaded, to see if the cookie must move
	lockToken  string    // token whose lease this request holds
	lease      uint64
	sent       bool     // response headers are written: cookies can no longer change
	writes     int      // store writes during this request
	events     []func() // hooks to run once mu is released
}

// Get returns the value for key, or nil if it is missing or did not decode.
func (s *Session) Get(key string) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, _ := s.lookupLocked(key)
	return v
}

// Exists reports whether key has a (decodable) value.
func (s *Session) Exists(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.lookupLocked(key)
	return ok
}

// Put sets key to v. The value is encoded when the session is committed; an
// unencodable value fails the request then. Keys starting with "sessring:"
// are reserved and ignored.
func (s *Session) Put(key string, v any) {
	if strings.HasPrefix(key, reservedPrefix) {
		s.m.log.Error("session key is reserved; Put ignored", slog.String("key", key))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.putLocked(key, v)
}

func (s *Session) putLocked(key string, v any) {
	old := s.cache[key]
	setKey(&s.cache, key, cached{val: v, raw: old.raw})
	setKey(&s.dirty, key, true)
	delete(s.deleted, key)
	s.status = Modified
}

// Pop returns the value for key and removes it (a one-time Get, for flash
// messages). It returns nil if key is missing.
func (s *Session) Pop(key string) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.lookupLocked(key)
	if ok {
		s.removeLocked(key)
	}
	return v
}

// Remove deletes key. Removing a missing key changes nothing. A stored value
// that did not decode is removed too.
func (s *Session) Remove(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removeLocked(key)
}

func (s *Session) removeLocked(key string) {
	_, inCache := s.cache[key]
	_, stored := s.rec.Fields[key]
	stored = stored && !s.cleared && !s.deleted[key] && !strings.HasPrefix(key, reservedPrefix)
	if !inCache && !stored {
		return
	}
	delete(s.cache, key)
	delete(s.dirty, key)
	if stored {
		setKey(&s.deleted, key, true)
	}
	s.status = Modified
}

// Clear removes every key; the token, deadline and RememberMe choice stay.
func (s *Session) Clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.visibleKeysLocked()) == 0 && len(s.bad) == 0 {
		return
	}
	s.cleared = s.exists
	s.cache, s.dirty, s.deleted, s.bad = nil, nil, nil, nil
	s.status = Modified
}

// Keys returns the keys with decodable values, sorted.
func (s *Session) Keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.visibleKeysLocked()
}

func (s *Session) visibleKeysLocked() []string {
	keys := make([]string, 0, len(s.cache)+len(s.rec.Fields))
	for k := range s.cache {
		keys = append(keys, k)
	}
	if !s.cleared {
		for k := range s.rec.Fields {
			if _, seen := s.cache[k]; seen {
				continue
			}
			if _, ok := s.lookupLocked(k); ok {
				keys = append(keys, k)
			}
		}
	}
	slices.Sort(keys)
	return keys
}

// lookupLocked finds key, decoding a stored value on first use. A value that
// does not decode is dropped: logged, counted and hidden from then on.
func (s *Session) lookupLocked(key string) (any, bool) {
	if c, ok := s.cache[key]; ok {
		return c.val, true
	}
	if s.cleared || s.deleted[key] || s.bad[key] || strings.HasPrefix(key, reservedPrefix) {
		return nil, false
	}
	raw, ok := s.rec.Fields[key]
	if !ok {
		return nil, false
	}
	v, err := s.m.codec.Decode(raw)
	if err != nil {
		setKey(&s.bad, key, true)
		s.m.stats.decodeFail.Add(1)
		s.m.log.Warn("session value dropped: it does not decode", slog.String("key", key), slog.Any("error", err))
		return nil, false
	}
	setKey(&s.cache, key, cached{val: v, raw: raw})
	return v, true
}

// Token returns the session token, or "" before the session is first stored
// (a new session gets its token when the response is committed).
func (s *Session) Token() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.token
}

// Status reports what this request did to the session.
func (s *Session) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

// Deadline returns when the session expires server-side: the earlier of its
// absolute lifetime and its idle deadline. For a session not stored yet it is
// the deadline it will get.
func (s *Session) Deadline() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deadlineLocked()
}

func (s *Session) deadlineLocked() time.Time {
	if s.exists {
		return s.rec.Deadline()
	}
	now := s.m.now()
	return store.Record{Expiry: now.Add(s.m.cfg.Lifetime), Idle: s.m.cfg.IdleTimeout, LastAccess: now}.Deadline()
}

// RememberMe chooses, for this session only, between a persistent cookie
// (true: Expires/Max-Age follow the server deadline) and a browser-session
// cookie (false), overriding Config.Cookie.Persist. The choice is stored with
// the session and the cookie is re-sent with this response.
func (s *Session) RememberMe(v bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.remember = -1
	if v {
		s.remember = 1
	}
	s.remDirty, s.remCalled = true, true
	s.status = Modified
}

// Persistent reports whether the session's cookie carries an expiry.
func (s *Session) Persistent() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.persistentLocked()
}

func (s *Session) persistentLocked() bool {
	if s.remember != 0 {
		return s.remember > 0
	}
	return *s.m.cfg.Cookie.Persist
}

// setKey sets (*m)[k] = v, allocating the map on first use.
func setKey[V any](m *map[string]V, k string, v V) {
	if *m == nil {
		*m = make(map[string]V)
	}
	(*m)[k] = v
}

// Typed getters return the zero value when the key is missing or holds
// another type (no conversion is attempted: an int64 is not an int). With
// DefaultCodec, values keep their exact Go type across requests.

// GetString returns the string at key, or "".
func (s *Session) GetString(key string) string { return as[string](s.Get(key)) }

// GetBool returns the bool at key, or false.
func (s *Session) GetBool(key string) bool { return as[bool](s.Get(key)) }

// GetInt returns the int at key, or 0.
func (s *Session) GetInt(key string) int { return as[int](s.Get(key)) }

// GetInt64 returns the int64 at key, or 0.
func (s *Session) GetInt64(key string) int64 { return as[int64](s.Get(key)) }

// GetInt32 returns the int32 at key, or 0.
func (s *Session) GetInt32(key string) int32 { return as[int32](s.Get(key)) }

// GetFloat64 returns the float64 at key, or 0.
func (s *Session) GetFloat64(key string) float64 { return as[float64](s.Get(key)) }

// GetBytes returns the []byte at key, or nil.
func (s *Session) GetBytes(key string) []byte { return as[[]byte](s.Get(key)) }

// GetTime returns the time.Time at key, or the zero time.
func (s *Session) GetTime(key string) time.Time { return as[time.Time](s.Get(key)) }

// GetDuration returns the time.Duration at key, or 0.
func (s *Session) GetDuration(key string) time.Duration { return as[time.Duration](s.Get(key)) }

// PopString removes key and returns its string value, or "".
func (s *Session) PopString(key string) string { return as[string](s.Pop(key)) }

// PopBool removes key and returns its bool value, or false.
func (s *Session) PopBool(key string) bool { return as[bool](s.Pop(key)) }

// PopInt removes key and returns its int value, or 0.
func (s *Session) PopInt(key string) int { return as[int](s.Pop(key)) }

// PopInt64 removes key and returns its int64 value, or 0.
func (s *Session) PopInt64(key string) int64 { return as[int64](s.Pop(key)) }

// PopFloat64 removes key and returns its float64 value, or 0.
func (s *Session) PopFloat64(key string) float64 { return as[float64](s.Pop(key)) }

// PopBytes removes key and returns its []byte value, or nil.
func (s *Session) PopBytes(key string) []byte { return as[[]byte](s.Pop(key)) }

// PopTime removes key and returns its time.Time value, or the zero time.
func (s *Session) PopTime(key string) time.Time { return as[time.Time](s.Pop(key)) }

// as returns v as a T, or T's zero value.
func as[T any](v any) T {
	t, _ := v.(T)
	return t
}
