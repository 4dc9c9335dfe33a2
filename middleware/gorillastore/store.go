package gorillastore

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/sessions"

	"github.com/e5b1d45c/sessring/middleware"
	"github.com/e5b1d45c/sessring/store"
)

// ErrNotLoaded is returned by Save for a session whose load failed: saving
// the empty stand-in would replace the user's real session.
var ErrNotLoaded = errors.New("gorillastore: session was not loaded; not saving it")

// Store implements sessions.Store. Set its fields before use; they must not
// change while requests are served.
type Store struct {
	// Options are the cookie defaults copied into each new session (gorilla's
	// convention). Default: Path "/", MaxAge 86400, HttpOnly, SameSite Lax.
	Options *sessions.Options
	// Lifetime caps a session's total life. Default 30 days.
	Lifetime time.Duration
	// IdleTimeout is the server-side life after the last Save of sessions
	// whose MaxAge is 0. Default 24h.
	IdleTimeout time.Duration
	// Sticky mints tokens owned by this node (see middleware.Config.Sticky).
	Sticky bool
	// Codec encodes values. Default: the middleware's default format,
	// middleware.Compressed(middleware.DefaultCodec{}, 1024, MaxSessionBytes).
	Codec middleware.Codec
	// MaxSessionBytes caps a session's stored size. Default 256 KiB.
	MaxSessionBytes int
	// StoreTimeout bounds each store call. Default store.DefaultOpTimeout
	// (6s), as middleware.Config.StoreTimeout: a request that arrives just
	// after a node crashed waits out the failover instead of failing.
	StoreTimeout time.Duration
	// Logger receives dropped-value warnings. Default slog.Default().
	Logger *slog.Logger

	st middleware.Store
}

// New returns a Store over st with the defaults above.
func New(st middleware.Store) *Store {
	const maxBytes = 256 << 10
	return &Store{
		Options: &sessions.Options{
			Path: "/", MaxAge: 86400, HttpOnly: true, SameSite: http.SameSiteLaxMode,
		},
		Lifetime:        30 * 24 * time.Hour,
		IdleTimeout:     24 * time.Hour,
		Codec:           middleware.Compressed(middleware.DefaultCodec{}, 1024, maxBytes),
		MaxSessionBytes: maxBytes,
		StoreTimeout:    store.DefaultOpTimeout,
		Logger:          slog.Default(),
		st:              st,
	}
}

// Get returns the named session of r, loading it once per request (through
// gorilla's request registry).
func (s *Store) Get(r *http.Request, name string) (*sessions.Session, error) {
	return sessions.GetRegistry(r).Get(s, name)
}

// New loads the named session of r without the registry. It returns a new
// session when the request has none (or an unknown one), and a new session
// plus an error when the store failed.
func (s *Store) New(r *http.Request, name string) (*sessions.Session, error) {
	sess := sessions.NewSession(s, name)
	opts := *s.Options
	sess.Options = &opts
	sess.IsNew = true
	c, err := r.Cookie(name)
	if err != nil || middleware.ValidateToken(c.Value) != nil {
		return sess, nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.StoreTimeout)
	defer cancel()
	rec, found, err := s.st.Load(ctx, c.Value)
	if err != nil {
		snapshots(r).put(sess, snapshot{failed: true})
		return sess, fmt.Errorf("gorillastore: load %q: %w", name, err)
	}
	if !found || rec.Kind != store.KindFields {
		return sess, nil
	}
	sess.ID, sess.IsNew = c.Value, false
	snapshots(r).put(sess, snapshot{rec: rec, bad: s.decodeInto(sess, rec.Fields)})
	return sess, nil
}

// decodeInto fills sess.Values, dropping values that do not decode; it
// returns their field names, which Save must leave alone.
func (s *Store) decodeInto(sess *sessions.Session, fields map[string][]byte) map[string]bool {
	var bad map[string]bool
	for name, raw := range fields {
		key, ok := parseKey(name)
		if !ok {
			continue
		}
		v, err := s.Codec.Decode(raw)
		if err != nil {
			s.Logger.Warn("session value dropped: it does not decode",
				slog.String("session", sess.Name()), slog.String("key", name), slog.Any("error", err))
			if bad == nil {
				bad = map[string]bool{}
			}
			bad[name] = true
			continue
		}
		sess.Values[key] = v
	}
	return bad
}

// Save stores the session's changes and sets its cookie. MaxAge < 0
// deletes the session.
func (s *Store) Save(r *http.Request, w http.ResponseWriter, sess *sessions.Session) error {
	snaps := snapshots(r)
	snap, known := snaps.get(sess)
	if snap.failed {
		return fmt.Errorf("%w (%q)", ErrNotLoaded, sess.Name())
	}
	if sess.Options.MaxAge < 0 {
		return s.destroy(r, w, sess, snaps)
	}
	fields, err := s.encode(sess.Values)
	if err != nil {
		return err
	}
	rec, err := s.write(r, sess, fields, snap, known)
	if errors.Is(err, store.ErrNotFound) {
		return s.gone(r, w, sess, snaps)
	}
	if err != nil {
		return err
	}
	snaps.put(sess, snapshot{rec: rec})
	http.SetCookie(w, s.cookie(r, sess, rec.Deadline()))
	return nil
}

// write creates the session or sends the delta since the snapshot. Without
// a snapshot (Save called with another request than Get) it rewrites every
// field, which is correct but does not merge with concurrent changes.
func (s *Store) write(r *http.Request, sess *sessions.Session, fields map[string][]byte, snap snapshot, known bool) (store.Record, error) {
	if size := fieldsSize(fields); size > s.MaxSessionBytes {
		return store.Record{}, fmt.Errorf("gorillastore: %w: %d bytes, limit %d", middleware.ErrSessionTooLarge, size, s.MaxSessionBytes)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), s.StoreTimeout)
	defer cancel()
	idle := s.IdleTimeout
	if sess.Options.MaxAge > 0 {
		idle = time.Duration(sess.Options.MaxAge) * time.Second
	}
	m := store.Mutation{Set: fields, Idle: idle, Touch: true}
	switch {
	case sess.ID == "":
		return s.create(ctx, sess, m)
	case known:
		m = delta(snap, fields, idle)
		m.Expiry = snap.rec.Expiry
	default:
		m.Clear, m.Expiry = true, time.Now().Add(s.Lifetime)
	}
	// A session destroyed or expired since it was loaded stays gone.
	m.IfExists = true
	rec, err := s.st.Apply(ctx, sess.ID, m)
	if err != nil {
		return rec, fmt.Errorf("gorillastore: save %q: %w", sess.Name(), err)
	}
	return rec, nil
}

// create stores a new session under a fresh token.
func (s *Store) create(ctx context.Context, sess *sessions.Session, m store.Mutation) (store.Record, error) {
	m.Create, m.Expiry = true, time.Now().Add(s.Lifetime)
	for attempt := 0; ; attempt++ {
		tok, err := s.st.NewToken(s.Sticky)
		if err != nil {
			return store.Record{}, fmt.Errorf("gorillastore: new token: %w", err)
		}
		rec, err := s.st.Apply(ctx, tok, m)
		if errors.Is(err, store.ErrConflict) && attempt == 0 {
			continue
		}
		if err != nil {
			return rec, fmt.Errorf("gorillastore: create %q: %w", sess.Name(), err)
		}
		sess.ID, sess.IsNew = tok, false
		return rec, nil
	}
}

// delta sets the fields whose bytes changed and deletes the vanished ones.
// Internal fields and values that did not decode are left alone: they are
// missing from Values only because this code cannot show them.
func delta(snap snapshot, cur map[string][]byte, idle time.Duration) store.Mutation {
	m := store.Mutation{Idle: idle, Touch: true}
	old := snap.rec.Fields
	for k, v := range cur {
		if !bytes.Equal(old[k], v) {
			if m.Set == nil {
				m.Set = map[string][]byte{}
			}
			m.Set[k] = v
		}
	}
	for k := range old {
		if _, ok := cur[k]; !ok && !snap.bad[k] {
			if _, mine := parseKey(k); mine {
				m.Delete = append(m.Delete, k)
			}
		}
	}
	return m
}

// gone ends a session that was destroyed (by a concurrent request, on any
// node) or expired since it was loaded. Its changes are dropped rather than
// carried into a new session (after a logout they must not survive under any
// token): sess becomes a new, empty session and the cookie is expired. Save
// then succeeds, since nothing failed.
func (s *Store) gone(r *http.Request, w http.ResponseWriter, sess *sessions.Session, snaps *snapshotTable) error {
	s.Logger.Info("session destroyed or expired since it was loaded; its changes are dropped",
		slog.String("session", sess.Name()))
	snaps.drop(sess)
	sess.ID, sess.IsNew = "", true
	clear(sess.Values)
	opts := *sess.Options
	opts.MaxAge = -1
	http.SetCookie(w, sessions.NewCookie(sess.Name(), "", s.secured(r, &opts)))
	return nil
}

func (s *Store) destroy(r *http.Request, w http.ResponseWriter, sess *sessions.Session, snaps *snapshotTable) error {
	if sess.ID != "" {
		ctx, cancel := context.WithTimeout(r.Context(), s.StoreTimeout)
		defer cancel()
		if err := s.st.DeleteCtx(ctx, sess.ID); err != nil {
			return fmt.Errorf("gorillastore: delete %q: %w", sess.Name(), err)
		}
	}
	snaps.drop(sess)
	http.SetCookie(w, sessions.NewCookie(sess.Name(), "", s.secured(r, sess.Options)))
	return nil
}

// cookie mirrors the server deadline: Max-Age counts down to it.
func (s *Store) cookie(r *http.Request, sess *sessions.Session, deadline time.Time) *http.Cookie {
	opts := s.secured(r, sess.Options)
	if opts.MaxAge > 0 && !deadline.IsZero() {
		opts.MaxAge = max(int(math.Ceil(time.Until(deadline).Seconds())), 1)
	}
	return sessions.NewCookie(sess.Name(), sess.ID, opts)
}

// secured returns a copy of opts, Secure when the request came over TLS.
func (s *Store) secured(r *http.Request, opts *sessions.Options) *sessions.Options {
	o := *opts
	o.Secure = o.Secure || r.TLS != nil
	return &o
}

// Keys: string keys are stored as is; others get a reserved, encoded name.
const otherKeyPrefix = middleware.ReservedKeyPrefix + "gk:"

func (s *Store) encode(values map[any]any) (map[string][]byte, error) {
	fields := make(map[string][]byte, len(values))
	for k, v := range values {
		name, err := keyName(k)
		if err != nil {
			return nil, err
		}
		b, err := s.Codec.Encode(v)
		if err != nil {
			return nil, fmt.Errorf("gorillastore: encode value of %v: %w", k, err)
		}
		fields[name] = b
	}
	return fields, nil
}

func keyName(k any) (string, error) {
	if str, ok := k.(string); ok && !strings.HasPrefix(str, middleware.ReservedKeyPrefix) {
		return str, nil
	}
	b, err := middleware.DefaultCodec{}.Encode(k)
	if err != nil {
		return "", fmt.Errorf("gorillastore: key %v (%T): %w", k, k, err)
	}
	return otherKeyPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// parseKey reverses keyName; false for fields that are not session values.
func parseKey(name string) (any, bool) {
	enc, ok := strings.CutPrefix(name, otherKeyPrefix)
	if !ok {
		return name, !strings.HasPrefix(name, middleware.ReservedKeyPrefix)
	}
	b, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return nil, false
	}
	k, err := middleware.DefaultCodec{}.Decode(b)
	return k, err == nil
}

func fieldsSize(fields map[string][]byte) int {
	n := 0
	for k, v := range fields {
		n += len(k) + len(v)
	}
	return n
}
