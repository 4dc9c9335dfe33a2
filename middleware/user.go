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
// The index entry is written before the session is, by every write that
// stores a tie, and a failed index write fails the session write: a stored
// session tied to a user is always listed, so DestroyUser cannot miss it.
// The reverse may happen (a listed token whose session was never stored, was
// destroyed, expired, renewed or tied to another user). Such entries are
// checked against the session itself and dropped by UserSessions and
// DestroyUser, and by a pass over the whole index, in the background, when
// it grows past pruneAbove entries or MaxSessionsPerUser (which also ends
// the oldest sessions beyond that cap); but only once older than indexGrace (the session write
// that follows an entry may not have landed yet), and only if the index has
// not changed since it was read (the session may have been tied back
// meanwhile). Each Manager cookie name has its own indexes.

// UserField is the stored field that ties a session to its user (SetUser).
// Give it to store.Config.ProtectField with store.EvictUnprotected, so that
// under memory pressure a node ends anonymous sessions, never those of
// logged-in users.
const UserField = userKey

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
// it together with the user's other sessions. SetUser("") unties the
// session. Clear keeps the tie; Destroy ends it.
//
// A change of the tie is a change of privilege, so it renews the token, as
// OWASP recommends against session fixation: when the session is committed,
// it moves to a new token exactly as with RenewToken (the absolute lifetime
// restarts, OnRenew runs), the token the client presented no longer loads
// it, and the response carries the new cookie. A token minted during this
// request (a new session, or RenewToken called first, as on a login page)
// is not renewed again. Only the new token is listed in the user's index.
// Because the cookie must change, SetUser returns ErrHeadersWritten when a
// renewal is needed but the response headers are already written.
//
// The tie takes effect when the session is committed; if the user's index
// cannot be written then, nothing is stored and the request fails, so a
// session is never stored tied to a user without being listed.
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
	if s.sent && s.exists && s.token == s.presented && id != s.storedUserLocked() {
		return fmt.Errorf("middleware: set user: the token must be renewed: %w", ErrHeadersWritten)
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

// tieMovesLocked reports whether this request changed the user tie of a
// stored session under the token the client presented: the commit must
// renew the token (see SetUser).
func (s *Session) tieMovesLocked() bool {
	return s.exists && s.token == s.presented && s.userSet && s.user != s.storedUserLocked()
}

// userPendingLocked reports whether a new session must be stored only
// because it was tied to a user.
func (s *Session) userPendingLocked() bool { return s.userSet && s.user != "" }

// listFirst lists token in its user's index before a write that stores set,
// when set ties the session to a user: a session stored as a user's is
// always listed. Every write of the tie does so, also one that rewrites the
// tie this request saw (Clear): a concurrent request may have tied the
// session elsewhere since. A tie that moves away leaves the old user's entry
// to be dropped when that index is next checked; removing it at once could
// remove the entry of a concurrent request tying the session back.
//
// It returns the user whose index is due for a check (schedulePrune) once
// the write has landed, or "": checked before the session is stored, the
// index would still count this login as not yet written.
func (m *Manager) listFirst(ctx context.Context, set map[string][]byte, token string) (check string, err error) {
	if u := set[userKey]; len(u) > 0 {
		due, err := m.indexAdd(ctx, string(u), token)
		if due {
			check = string(u)
		}
		return check, err
	}
	return "", nil
}

// UserSessions returns the live sessions tied to user, oldest first. Entries
// of sessions that ended are dropped from the index on the way. If some
// sessions could not be checked (their owner unreachable), it returns the
// ones it could with an error.
func (m *Manager) UserSessions(ctx context.Context, user string) ([]UserSession, error) {
	live, err := m.userTokens(ctx, user)
	out := make([]UserSession, 0, len(live))
	for _, l := range live {
		out = append(out, l.info)
	}
	return out, err
}

// DestroyUser ends every session tied to user ("log out everywhere"), except
// those whose UserSession.ID is in keep (pass the current Session.ID to log
// out only the other devices). Each is deleted on every node, as by
// Session.Destroy, and OnDestroy runs for it. It returns how many sessions it
// deleted; after an error some may remain, and calling it again is safe.
// A login of user that completes while DestroyUser runs may survive it, as
// one a moment later would.
func (m *Manager) DestroyUser(ctx context.Context, user string, keep ...string) (int, error) {
	live, err := m.userTokens(ctx, user)
	if len(live) == 0 {
		return 0, err
	}
	errs := []error{err}
	var done []string
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
	// Deleted sessions cannot be written again (writes need IfExists), so
	// their entries can go whatever happened to the index meanwhile.
	m.indexRemove(ctx, user, 0, done...)
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
	live, _, err := m.checkUser(ctx, user)
	return live, err
}

// checkUser is userTokens; raced reports that the index changed (a login
// added an entry) before the dead entries could be dropped, so they are
// still listed.
func (m *Manager) checkUser(ctx context.Context, user string) (live []liveToken, raced bool, err error) {
	if user == "" || len(user) > MaxUserIDLen {
		return nil, false, fmt.Errorf("%w: %d bytes", ErrBadUser, len(user))
	}
	idx, found, err := m.peek(ctx, m.indexKey(user))
	if err != nil || !found {
		return nil, false, err
	}
	live, dead, err := m.checkIndex(ctx, user, idx)
	raced = m.indexRemove(ctx, user, idx.Version, dead...)
	return live, raced, err
}

// checkIndex loads every session idx lists. An entry is dead when its
// session is gone or tied to another user, and the entry is older than
// indexGrace: a younger one may belong to a login whose session write has
// not landed yet (the entry is written first), or to a session being tied
// back to user. A session that cannot be loaded is neither live nor dead;
// the error says so.
func (m *Manager) checkIndex(ctx context.Context, user string, idx store.Record) (live []liveToken, dead []string, err error) {
	var errs []error
	young := m.now().Add(-m.indexGrace())
	for tok, since := range idx.Fields {
		at := decodeSince(since)
		if ValidateToken(tok) != nil {
			dead = append(dead, tok)
			continue
		}
		rec, found, err := m.peek(ctx, tok)
		if err != nil {
			errs = append(errs, fmt.Errorf("session %s: %w", sessionID(tok), err))
			continue
		}
		if !found || rec.Kind != store.KindFields || string(rec.Fields[userKey]) != user {
			if at.Before(young) {
				dead = append(dead, tok)
			}
			continue
		}
		live = append(live, liveToken{token: tok, info: UserSession{
			ID:         sessionID(tok),
			Since:      at,
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
	return live, dead, errors.Join(errs...)
}

// indexGrace is how long an entry may wait for its session: the session
// write that follows it ends within StoreTimeout, and the minute covers
// clock differences between nodes.
func (m *Manager) indexGrace() time.Duration { return m.cfg.StoreTimeout + time.Minute }

// peek reads a record for the user index without counting it as a session
// load.
func (m *Manager) peek(ctx context.Context, token string) (store.Record, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.StoreTimeout)
	defer cancel()
	rec, found, err := m.st.Load(ctx, token)
	if err != nil {
		return rec, false, fmt.Errorf("middleware: user index: %w", err)
	}
	return rec, found, nil
}

// indexAdd lists token in user's index. It runs before the session write
// that ties token to user, and its failure fails that write. checkDue
// reports that the index has grown enough to be checked (pruned, capped)
// once that write has landed.
//
// The index must outlive every session it lists. A session lives at most
// Lifetime from its creation or renewal, so the index's deadline is pushed
// to Lifetime (plus a margin) from now, but never pulled in: another
// Manager version with a shorter Lifetime must not cut it below a session
// the longer one stored. Pushing it is conditional on the version read;
// adds within a minute of the last push leave the deadline alone and need
// no condition.
func (m *Manager) indexAdd(ctx context.Context, user, token string) (checkDue bool, err error) {
	key := m.indexKey(user)
	for attempt := 0; ; attempt++ {
		now := m.now()
		target := now.Add(m.cfg.Lifetime + 2*time.Minute)
		idx, found, err := m.peek(ctx, key)
		if err != nil {
			return false, err
		}
		mut := store.Mutation{Set: map[string][]byte{token: encodeSince(now)}}
		switch {
		case !found:
			mut.Create, mut.Expiry = true, target
		case !idx.Expiry.IsZero() && idx.Expiry.Before(target.Add(-time.Minute)):
			mut.IfVersion, mut.Expiry = idx.Version, target
		default:
			mut.IfExists = true
		}
		actx, cancel := context.WithTimeout(ctx, m.cfg.StoreTimeout)
		idx, err = m.st.Apply(actx, key, mut)
		cancel()
		if (errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound)) && attempt < 4 {
			continue // the index changed between the read and the write
		}
		if errors.Is(err, store.ErrTooLarge) && attempt < 4 {
			// The index outgrew the store's limit faster than the background
			// could prune it (a burst of logins): prune now, then retry.
			m.pruneUser(ctx, user)
			continue
		}
		if err != nil {
			return false, fmt.Errorf("middleware: list session in its user's index: %w", err)
		}
		n := len(idx.Fields)
		return (n > pruneAbove && n%pruneEvery == 0) || (m.cfg.MaxSessionsPerUser > 0 && n > m.cfg.MaxSessionsPerUser), nil
	}
}

// indexRemove drops tokens from user's index; with a non-zero version only
// if the index is still at that version (nothing was added since the
// entries were judged). It is best effort: an entry left behind is dropped
// when next checked.
//
// It reports whether the index had moved past version, so nothing was
// dropped.
func (m *Manager) indexRemove(ctx context.Context, user string, version uint64, tokens ...string) (conflict bool) {
	if user == "" || len(tokens) == 0 {
		return false
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.cfg.StoreTimeout)
	defer cancel()
	mut := store.Mutation{Delete: tokens, IfExists: true, IfVersion: version}
	_, err := m.st.Apply(ctx, m.indexKey(user), mut)
	if errors.Is(err, store.ErrConflict) {
		return true
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		m.log.Warn("user index not updated; stale entries are dropped when next read",
			slog.Int("entries", len(tokens)), slog.Any("error", err))
	}
	return false
}

// indexKey is the store key of user's index for this Manager's cookie: a
// hash, so user ids appear in no key and any id fits MaxTokenLen. Managers
// with different cookie names keep separate indexes.
func (m *Manager) indexKey(user string) string {
	return indexToken(m.cfg.Cookie.Name, user)
}

func indexToken(cookie, user string) string {
	sum := sha256.Sum256([]byte("sessring user index\x00" + cookie + "\x00" + user))
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
