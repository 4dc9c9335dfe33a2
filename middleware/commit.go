package middleware

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"time"

	"github.com/e5b1d45c/sessring/store"
)

// commitResponse runs once, just before the response headers are written:
// it stores what changed and sets the cookie. After an error nothing was
// stored and no cookie was set.
func (s *Session) commitResponse(r *http.Request, h http.Header) error {
	ctx, cancel := s.m.writeCtx(r)
	defer cancel()
	s.mu.Lock()
	err := s.commitLocked(ctx)
	if err == nil {
		s.cookieLocked(r, h)
	}
	s.sent = true
	events := s.takeEventsLocked()
	s.mu.Unlock()
	runEvents(events)
	return err
}

// commitLate stores changes made after the headers were written. Those can
// only reach an existing session: a new one's token could not be sent.
func (s *Session) commitLate(r *http.Request) {
	ctx, cancel := s.m.writeCtx(r)
	defer cancel()
	s.mu.Lock()
	var err error
	if !s.exists && (len(s.cache) > 0 || s.remDirty || s.userPendingLocked()) {
		err = fmt.Errorf("middleware: values put into a new session after the response was written: %w", ErrHeadersWritten)
	} else {
		err = s.commitLocked(ctx)
	}
	events := s.takeEventsLocked()
	s.mu.Unlock()
	runEvents(events)
	if err != nil {
		s.m.stats.lateWrites.Add(1)
		s.m.stats.errors.Add(1)
		s.m.log.Error("session change lost: made after the response was written", slog.Any("error", err))
	}
}

// commitLocked writes what changed since the last write: a Create for a new
// session, a move to a new token for one whose user tie changed (SetUser), a
// delta of the changed keys for an existing one, or at most an idle touch
// for an unchanged one.
func (s *Session) commitLocked(ctx context.Context) error {
	if !s.exists {
		return s.createLocked(ctx)
	}
	if s.tieMovesLocked() {
		return s.renewLocked(ctx) // stores the whole session, new tie included
	}
	mut, err := s.deltaLocked()
	if err != nil {
		return err
	}
	if len(mut.Set) == 0 && len(mut.Delete) == 0 && !mut.Clear {
		return s.touchLocked(ctx)
	}
	return s.writeLocked(ctx, mut)
}

// createLocked stores a new session under a fresh token, if it holds
// anything. Every write to a new session carries its deadlines.
func (s *Session) createLocked(ctx context.Context) error {
	if len(s.cache) == 0 && !s.remDirty && !s.userPendingLocked() {
		return nil
	}
	mut, err := s.deltaLocked()
	if err != nil {
		return err
	}
	if err := s.m.checkSize(fieldsSize(mut.Set)); err != nil {
		return err
	}
	now := s.m.now()
	mut = store.Mutation{Create: true, Set: mut.Set, Expiry: now.Add(s.m.cfg.Lifetime), Idle: s.m.cfg.IdleTimeout}
	tok, rec, err := s.m.create(ctx, mut)
	if err != nil {
		return err
	}
	s.adoptWrittenLocked(tok, rec, mut.Set)
	s.m.stats.created.Add(1)
	s.eventLocked(s.m.cfg.OnCreate, tok)
	return nil
}

// writeLocked applies a delta to the stored session. IfExists makes a write
// that races the session's Destroy or expiry fail instead of bringing the
// session back (see goneLocked). The stored deadlines are repeated as well, so
// no write can ever leave a session without them.
func (s *Session) writeLocked(ctx context.Context, mut store.Mutation) error {
	if err := s.m.checkSize(s.projectedSizeLocked(mut)); err != nil {
		return err
	}
	mut.IfExists = true
	mut.Expiry, mut.Idle = s.rec.Expiry, s.rec.Idle
	if s.token == s.lockToken {
		mut.Lease = s.lease
	}
	check, err := s.m.listFirst(ctx, mut.Set, s.token)
	if err != nil {
		return err
	}
	rec, err := s.m.apply(ctx, s.token, mut)
	if errors.Is(err, store.ErrLeaseLost) && mut.Lease != 0 {
		rec, err = s.relockLocked(ctx, mut, err)
	}
	if errors.Is(err, store.ErrNotFound) {
		s.goneLocked("write")
		return nil
	}
	if err != nil {
		return err
	}
	s.adoptWrittenLocked(s.token, rec, mut.Set)
	s.m.stats.saves.Add(1)
	if check != "" {
		s.m.schedulePrune(check)
	}
	return nil
}

// relockLocked retries a write whose lease was lost. A lease is lost when
// the session's owner changed (a node left, joined or restarted: leases are
// held by the owner and do not move) or when it expired. The request
// locks the session again and writes only if the session is still at the
// version the request last saw: then no other request wrote it since, and
// committing is exactly what holding the lock throughout would have
// allowed. Otherwise lost is returned. Ownership can move again between
// the new lock and the write (a rolling restart moves partitions twice per
// node); up to maxRelocks rounds are tried, each with the same condition.
func (s *Session) relockLocked(ctx context.Context, mut store.Mutation, lost error) (store.Record, error) {
	mut.IfVersion = s.rec.Version
	for range maxRelocks {
		lease, err := s.m.lock(ctx, s.token)
		if err != nil {
			return store.Record{}, lost
		}
		s.lease = lease
		mut.Lease = lease
		rec, err := s.m.apply(ctx, s.token, mut)
		switch {
		case errors.Is(err, store.ErrLeaseLost):
			continue
		case errors.Is(err, store.ErrConflict):
			return store.Record{}, lost
		case err == nil:
			s.m.stats.relocks.Add(1)
		}
		return rec, err
	}
	return store.Record{}, lost
}

// maxRelocks bounds relockLocked: each round follows one more ownership
// move during a single commit.
const maxRelocks = 3

// touchLocked refreshes the idle deadline of an unchanged session, at most
// once per TouchInterval. It never recreates a session that expired or was
// destroyed meanwhile (IfExists). A failed touch is logged, not fatal: the
// request changed nothing, and the session merely expires sooner.
func (s *Session) touchLocked(ctx context.Context) error {
	if s.rec.Idle <= 0 || s.m.now().Sub(s.rec.LastAccess) < s.m.cfg.TouchInterval {
		return nil
	}
	mut := store.Mutation{Touch: true, IfExists: true}
	if s.token == s.lockToken {
		mut.Lease = s.lease
	}
	rec, err := s.m.apply(ctx, s.token, mut)
	switch {
	case errors.Is(err, store.ErrNotFound), err == nil && rec.Version == 0:
		s.goneLocked("touch")
	case err != nil:
		s.m.stats.errors.Add(1)
		s.m.log.Warn("session idle touch failed", slog.Any("error", err))
	default:
		s.rec = rec
		s.writes++
		s.m.stats.touches.Add(1)
	}
	return nil
}

// goneLocked handles a write that found the session destroyed (by a
// concurrent request, on any node) or expired since this request loaded it.
// The session is over: the request's changes to it are dropped, not carried
// into a new session (after a logout they must not survive under any
// token), and s becomes a new, empty session, so the response expires the
// client's cookie exactly as if the request had arrived a moment later.
// It is not an error: nothing failed, and answering 500 would not help.
func (s *Session) goneLocked(op string) {
	s.m.stats.vanished.Add(1)
	s.m.log.Info("session destroyed or expired during the request; its changes are dropped",
		slog.String("op", op), slog.String("session", shortToken(s.token)))
	s.resetLocked()
}

// deltaLocked builds the mutation for what changed since the last write:
// put keys whose encoding differs from the stored bytes, values changed in
// place without Put, removed keys, and the RememberMe choice.
func (s *Session) deltaLocked() (store.Mutation, error) {
	mut := store.Mutation{Clear: s.cleared}
	for k := range s.dirty {
		enc, err := s.m.codec.Encode(s.cache[k].val)
		if err != nil {
			return mut, fmt.Errorf("middleware: encode %q: %w", k, err)
		}
		if !s.cleared && bytes.Equal(enc, s.storedRawLocked(k)) {
			continue
		}
		setKey(&mut.Set, k, enc)
	}
	if err := s.inPlaceLocked(&mut); err != nil {
		return mut, err
	}
	for k := range s.deleted {
		mut.Delete = append(mut.Delete, k)
	}
	s.userDeltaLocked(&mut)
	if s.remember != 0 && (s.remDirty || s.cleared || !s.exists) {
		setKey(&mut.Set, persistKey, []byte{'0' + b2u8(s.remember > 0)})
	}
	return mut, nil
}

// inPlaceLocked adds values that were read, not put, and changed in place
// (a map or slice or pointed-to struct modified through Get). A value is
// written when its encoding differs from the bytes it came from and it is
// not deeply equal to a fresh decode of them. Encoding first means an
// unchanged value costs one encoding and no decode; the decode only filters
// out encodings that differ for an equal value (gob writes map entries in
// random order).
func (s *Session) inPlaceLocked(mut *store.Mutation) error {
	for k, c := range s.cache {
		if s.dirty[k] || c.raw == nil || !mutable(c.val) {
			continue
		}
		enc, encErr := s.m.codec.Encode(c.val)
		if encErr == nil && bytes.Equal(enc, c.raw) {
			continue
		}
		if fresh, err := s.m.codec.Decode(c.raw); err != nil || reflect.DeepEqual(fresh, c.val) {
			continue
		}
		if encErr != nil {
			return fmt.Errorf("middleware: encode %q: %w", k, encErr)
		}
		setKey(&mut.Set, k, enc)
		s.m.stats.inPlace.Add(1)
	}
	return nil
}

// mutable reports whether v may have been changed through a reference.
func mutable(v any) bool {
	switch v.(type) {
	case nil, string, bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64,
		float32, float64, time.Time, time.Duration:
		return false
	}
	return true
}

// storedRawLocked returns the bytes last seen stored for key, or nil.
func (s *Session) storedRawLocked(key string) []byte {
	if c, ok := s.cache[key]; ok && c.raw != nil {
		return c.raw
	}
	return s.rec.Fields[key]
}

// adoptWrittenLocked records a successful write of set to tok.
func (s *Session) adoptWrittenLocked(tok string, rec store.Record, set map[string][]byte) {
	s.token, s.exists, s.rec = tok, true, rec
	for k, enc := range set {
		if c, ok := s.cache[k]; ok {
			c.raw = enc
			s.cache[k] = c
		}
	}
	s.dirty, s.deleted, s.cleared, s.remDirty = nil, nil, false, false
	s.user, s.userSet = "", false // the tie, if changed, was part of the write
	s.writes++
}

// projectedSizeLocked is the stored size after mut (keys plus values).
func (s *Session) projectedSizeLocked(mut store.Mutation) int {
	n := fieldsSize(mut.Set)
	if mut.Clear {
		return n
	}
	for k, v := range s.rec.Fields {
		if _, replaced := mut.Set[k]; !replaced && !s.deleted[k] {
			n += len(k) + len(v)
		}
	}
	return n
}

func fieldsSize(fields map[string][]byte) int {
	n := 0
	for k, v := range fields {
		n += len(k) + len(v)
	}
	return n
}

// cookieLocked sets or expires the cookie, only when the client's copy is
// wrong: a new or renewed token, a RememberMe change, a persistent cookie
// whose deadline moved, or a token the client holds that no longer exists.
//
// Any move counts, however small: under an idle timeout every write moves
// the deadline by the time since the previous one, and moves of less than a
// second each would otherwise add up, unsent, until the browser dropped the
// cookie of a session the server still keeps. Touches are throttled by
// TouchInterval, so read-only requests re-send it no more often than that.
func (s *Session) cookieLocked(r *http.Request, h http.Header) {
	persist := s.persistentLocked()
	switch {
	case s.exists:
		dl := s.rec.Deadline()
		moved := persist && !dl.Equal(s.loadedDead)
		if s.token != s.presented || s.remCalled || moved {
			s.m.setCookie(h, r, s.token, dl, persist)
		}
	case s.presented != "" || s.stale:
		s.m.expireCookie(h, r)
	}
}
