package middleware

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/e5b1d45c/sessring/store"
)

// The user index ("log out everywhere").
//
// A session tied to a user with Session.SetUser is listed in that user's
// index: a record in the same store, under a key no client can present (it
// is not a well-formed token, see ValidateToken), whose fields are the
// session tokens. Fields merge at the owner like any session's, so logins
// on different nodes at the same moment are all listed.
//
// The index entry is written before the session is, and a failed index write
// fails the session write: a stored session tied to a user is always listed,
// so DestroyUser cannot miss it. The reverse may happen (a listed token whose
// session was never stored, was destroyed, expired, renewed or tied to another
// user); such entries are checked against the session itself and dropped by
// UserSessions and DestroyUser, and by a pass over the whole index when it
// grows past pruneAbove entries.

const (
	userKey = reservedPrefix + "user" // the stored user id of a session

	// indexPrefix starts user-index keys; '~' and '.' are outside the token
	// alphabet, so no request can load or write an index as its session.
	indexPrefix = "~user."

	// MaxUserIDLen bounds the user id SetUser accepts.
	MaxUserIDLen = 1024

	// pruneAbove is the index size from which adding an entry also checks
	// the others, once every pruneEvery additions.
	pruneAbove = 64
	pruneEvery = 32
)

// ErrBadUser means a user id is longer than MaxUserIDLen, or empty where a
// user is required.
var ErrBadUser = errors.New("middleware: invalid user id")

// UserSession describes one live session of a user (Manager.UserSessions).
type UserSession struct {
	// ID names the session without revealing its token, which is a
	// credential: safe to show, log and send back to choose a session to
	// keep (Manager.DestroyUser). Session.ID returns it for the current one.
	ID string
	// Since is when the session was tied to the user.
	Since time.Time
	// LastAccess is the session's last write or idle touch.
	LastAccess time.Time
	// Deadline is when the session expires unless it is used again.
	Deadline time.Time
}

// SetUser ties the session to a user (an account id, not a name that can
// change), so that Manager.UserSessions lists it and Manager.DestroyUser ends
// it together with the user's other sessions. It takes effect when the
// session is committed; if the user's index cannot be written then, nothing
// is stored and the request fails, so a session is never stored tied to a
// user without being listed. SetUser("") unties the session. On login, call
// RenewToken first. Clear keeps the tie; Destroy ends it.
func (s *Session) SetUser(id string) error {
	if len(id) > MaxUserIDLen {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrBadUser, len(id), MaxUserIDLen)
	}
	if s.detached {
		return ErrNoSession
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if id == s.userLocked() {
		return nil
	}
	s.user, s.userSet = id, true
	s.status = Modified
	return nil
}

// User returns the user the session is tied to, or "".
func (s *Session) User() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.userLocked()
}

// ID returns the session's UserSession.ID, or "" before it is first stored.
func (s *Session) ID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token == "" {
		return ""
	}
	return sessionID(s.token)
}

// userLocked is the user the session is tied to, counting this request's
// SetUser.
func (s *Session) userLocked() string {
	if s.userSet {
		return s.user
	}
	return s.storedUserLocked()
}

// storedUserLocked is the user of the stored session (as loaded or last
// written), which is the one whose index lists it.
func (s *Session) storedUserLocked() string {
	if !s.exists {
		return ""
	}
	return string(s.rec.Fields[userKey])
}

// userDeltaLocked adds the user tie to mut when this request changed it, or
// when Clear would otherwise remove it.
func (s *Session) userDeltaLocked(mut *store.Mutation) {
	u, stored := s.userLocked(), s.storedUserLocked()
	switch {
	case u != "" && (u != stored || s.cleared):
		setKey(&mut.Set, userKey, []byte(u))
	case u == "" && stored != "" && !s.cleared:
		mut.Delete = append(mut.Delete, userKey)
	}
}

// userPendingLocked reports whether a new session must be stored only
// because it was tied to a user.
func (s *Session) userPendingLocked() bool { return s.userSet && s.user != "" }

// afterUserWriteLocked drops the token from the index of the user the
// session was tied to before a write that changed the tie (best effort: a
// leftover entry is dropped when next checked).
func (s *Session) afterUserWriteLocked(ctx context.Context, before string) {
	if before != "" && before != s.storedUserLocked() {
		s.m.indexRemove(ctx, before, s.token)
	}
	s.user, s.userSet = "", false
}

// UserSessions returns the live sessions tied to user, oldest first. Entries
// of sessions that ended are dropped from the index on the way.
func (m *Manager) UserSessions(ctx context.Context, user string) ([]UserSession, error) {
	live, err := m.userTokens(ctx, user)
	if err != nil {
		return nil, err
	}
	out := make([]UserSession, 0, len(live))
	for _, l := range live {
		out = append(out, l.info)
	}
	return out, nil
}

// DestroyUser ends every session tied to user ("log out everywhere"), except
// those whose UserSession.ID is in keep (pass the current Session.ID to log
// out only the other devices). Each is deleted on every node, as by
// Session.Destroy, and OnDestroy runs for it. It returns how many sessions it
// deleted; after an error some may remain, and calling it again is safe.
// Sessions tied to user after DestroyUser read the index are not affected.
func (m *Manager) DestroyUser(ctx context.Context, user string, keep ...string) (int, error) {
	live, err := m.userTokens(ctx, user)
	if err != nil {
		return 0, err
	}
	var (
		done []string
		errs []error
	)
	for _, l := range live {
		if slices.Contains(keep, l.info.ID) {
			continue
		}
		dctx, cancel := context.WithTimeout(ctx, m.cfg.StoreTimeout)
		err := m.st.DeleteCtx(dctx, l.token)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("middleware: destroy session %s of user: %w", l.info.ID, err))
			continue
		}
		done = append(done, l.token)
		m.stats.destroyed.Add(1)
		if fn := m.cfg.OnDestroy; fn != nil {
			fn(l.token)
		}
	}
	m.indexRemove(ctx, user, done...)
	return len(done), errors.Join(errs...)
}

// liveToken is a listed session found live.
type liveToken struct {
	token string
	info  UserSession
}

// userTokens reads user's index and checks each entry against its session,
// dropping the entries of sessions that ended or belong to another user.
func (m *Manager) userTokens(ctx context.Context, user string) ([]liveToken, error) {
	if user == "" || len(user) > MaxUserIDLen {
		return nil, fmt.Errorf("%w: %d bytes", ErrBadUser, len(user))
	}
	idx, found, err := m.peek(ctx, indexToken(user))
	if err != nil || !found {
		return nil, err
	}
	live, dead, err := m.checkIndex(ctx, user, idx)
	m.indexRemove(ctx, user, dead...)
	return live, err
}

// checkIndex loads every session idx lists. A session that is gone, or tied
// to another user, is dead.
func (m *Manager) checkIndex(ctx context.Context, user string, idx store.Record) (live []liveToken, dead []string, err error) {
	for tok, since := range idx.Fields {
		if ValidateToken(tok) != nil {
			dead = append(dead, tok)
			continue
		}
		rec, found, err := m.peek(ctx, tok)
		if err != nil {
			return nil, nil, err
		}
		if !found || rec.Kind != store.KindFields || string(rec.Fields[userKey]) != user {
			dead = append(dead, tok)
			continue
		}
		live = append(live, liveToken{token: tok, info: UserSession{
			ID:         sessionID(tok),
			Since:      decodeSince(since),
			LastAccess: rec.LastAccess,
			Deadline:   rec.Deadline(),
		}})
	}
	slices.SortFunc(live, func(a, b liveToken) int {
		if c := a.info.Since.Compare(b.info.Since); c != 0 {
			return c
		}
		return strings.Compare(a.info.ID, b.info.ID)
	})
	return live, dead, nil
}

// peek reads a record for the user index without counting it as a session
// load.
func (m *Manager) peek(ctx context.Context, token string) (store.Record, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.StoreTimeout)
	defer cancel()
	rec, found, err := m.st.Load(ctx, token)
	if err != nil {
		return rec, false, fmt.Errorf("middleware: user sessions: %w", err)
	}
	return rec, found, nil
}

// indexAdd lists token in user's index. It runs before the session write
// that ties token to user, and its failure fails that write. The index lives
// as long as the longest session it can list: Lifetime from now.
func (m *Manager) indexAdd(ctx context.Context, user, token string) error {
	now := m.now()
	mut := store.Mutation{
		Set:    map[string][]byte{token: encodeSince(now)},
		Expiry: now.Add(m.cfg.Lifetime + time.Minute),
	}
	idx, err := m.apply(ctx, indexToken(user), mut)
	if err != nil {
		return fmt.Errorf("middleware: list session in its user's index: %w", err)
	}
	if n := len(idx.Fields); n > pruneAbove && n%pruneEvery == 0 {
		if _, dead, err := m.checkIndex(ctx, user, idx); err == nil {
			m.indexRemove(ctx, user, slices.DeleteFunc(dead, func(t string) bool { return t == token })...)
		}
	}
	return nil
}

// indexRemove drops tokens from user's index. It is best effort: an entry
// left behind is dropped when next checked, since its session no longer
// names user.
func (m *Manager) indexRemove(ctx context.Context, user string, tokens ...string) {
	if user == "" || len(tokens) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.cfg.StoreTimeout)
	defer cancel()
	_, err := m.st.Apply(ctx, indexToken(user), store.Mutation{Delete: tokens, IfExists: true})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		m.log.Warn("user index not updated; stale entries are dropped when next read",
			slog.Int("entries", len(tokens)), slog.Any("error", err))
	}
}

// indexToken is the store key of user's index: a hash, so user ids appear in
// no key and any id fits MaxTokenLen.
func indexToken(user string) string {
	sum := sha256.Sum256([]byte("sessring user index\x00" + user))
	return indexPrefix + base64.RawURLEncoding.EncodeToString(sum[:])
}

// isIndexToken reports whether a store key is a user index, not a session.
func isIndexToken(tok string) bool { return strings.HasPrefix(tok, indexPrefix) }

// sessionID is the public name of a session: 16 hex digits of its token's
// SHA-256.
func sessionID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:8])
}

func encodeSince(t time.Time) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(t.UnixNano()))
}

func decodeSince(b []byte) time.Time {
	if len(b) != 8 {
		return time.Time{}
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(b)))
}
