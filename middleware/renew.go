package middleware

import (
	"context"
	"fmt"
	"maps"

	"github.com/e5b1d45c/sessring/store"
)

// Destroy deletes the session from the store at once (on every node), and
// the response expires the client's cookie; OnDestroy runs. Values put
// afterwards in the same request start a new session with a new token. Use
// it on logout.
func (s *Session) Destroy(ctx context.Context) error {
	if s.detached {
		return ErrNoSession
	}
	s.mu.Lock()
	old, existed, user := s.token, s.exists, s.storedUserLocked()
	if existed {
		ctx, cancel := context.WithTimeout(ctx, s.m.cfg.StoreTimeout)
		err := s.m.st.DeleteCtx(ctx, old)
		cancel()
		if err != nil {
			s.mu.Unlock()
			return fmt.Errorf("middleware: destroy session: %w", err)
		}
	}
	s.resetLocked()
	s.status = Destroyed
	s.mu.Unlock()
	if existed {
		s.m.indexRemove(ctx, user, 0, old) // deleted: it cannot be tied again
		s.m.stats.destroyed.Add(1)
		if fn := s.m.cfg.OnDestroy; fn != nil {
			fn(old)
		}
	}
	return nil
}

// resetLocked makes s a new, empty session.
func (s *Session) resetLocked() {
	s.token, s.exists, s.rec = "", false, store.Record{}
	s.cache, s.bad, s.dirty, s.deleted, s.cleared = nil, nil, nil, nil, false
	s.remember, s.remDirty, s.remCalled = 0, false, false
	s.user, s.userSet = "", false
}

// RenewToken moves the session to a new token: its data (including values
// this node cannot decode, and unsaved changes) is stored under the new
// token, the old token is deleted everywhere, and the response carries the
// new cookie. The absolute lifetime restarts, as with scs. Call it on login
// and on any privilege change, before storing the new privilege, to defeat
// session fixation.
//
// It must run before the response headers are written (ErrHeadersWritten
// otherwise). A session that was destroyed or expired since the request
// loaded it is not brought back: the request continues with a new, empty
// session, which gets a fresh token when first stored. If the old token cannot be deleted, the session still moved
// and an error is returned: the old token then holds only the pre-renewal
// data, so do not treat the error as harmless if that data is sensitive.
func (s *Session) RenewToken(ctx context.Context) error {
	if s.detached {
		return ErrNoSession
	}
	s.mu.Lock()
	defer func() {
		events := s.takeEventsLocked()
		s.mu.Unlock()
		runEvents(events)
	}()
	if s.sent {
		return fmt.Errorf("middleware: renew token: %w", ErrHeadersWritten)
	}
	s.status = Modified
	if !s.exists {
		return nil // never stored: it gets a fresh token when first stored
	}
	return s.renewLocked(ctx)
}

func (s *Session) renewLocked(ctx context.Context) error {
	if gone, err := s.reloadLocked(ctx); err != nil || gone {
		return err
	}
	fields, err := s.allFieldsLocked()
	if err != nil {
		return err
	}
	if err := s.m.checkSize(fieldsSize(fields)); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.m.cfg.StoreTimeout)
	defer cancel()
	now := s.m.now()
	mut := store.Mutation{Create: true, Set: fields, Expiry: now.Add(s.m.cfg.Lifetime), Idle: s.m.cfg.IdleTimeout}
	tok, rec, err := s.m.create(ctx, mut)
	if err != nil {
		return fmt.Errorf("middleware: renew token: %w", err)
	}
	old, oldUser := s.token, s.storedUserLocked()
	s.adoptWrittenLocked(tok, rec, fields)
	s.m.stats.renewed.Add(1)
	if fn := s.m.cfg.OnRenew; fn != nil {
		s.events = append(s.events, func() { fn(old, tok) })
	}
	if err := s.m.st.DeleteCtx(ctx, old); err != nil {
		return fmt.Errorf("middleware: renew token: new token stored, old one not deleted: %w", err)
	}
	s.m.indexRemove(ctx, oldUser, 0, old) // deleted: it cannot be tied again
	return nil
}

// reloadLocked reads the session again just before it moves. A session
// destroyed or expired since this request loaded it must not come back under
// a new token: it reports gone, and s is then a new session (goneLocked),
// which gets a fresh token when first stored. Otherwise the move copies the
// current stored fields, including those concurrent requests changed since
// the load.
func (s *Session) reloadLocked(ctx context.Context) (gone bool, err error) {
	rec, found, err := s.m.load(ctx, s.token)
	if err != nil {
		return false, fmt.Errorf("middleware: renew token: %w", err)
	}
	if !found || rec.Kind != store.KindFields {
		s.goneLocked("renew")
		return true, nil
	}
	s.rec = rec
	return false, nil
}

// allFieldsLocked is the complete stored form of the session with this
// request's changes applied.
func (s *Session) allFieldsLocked() (map[string][]byte, error) {
	mut, err := s.deltaLocked()
	if err != nil {
		return nil, err
	}
	fields := make(map[string][]byte, len(s.rec.Fields)+len(mut.Set))
	if !s.cleared {
		for k, v := range s.rec.Fields {
			if !s.deleted[k] {
				fields[k] = v
			}
		}
	}
	maps.Copy(fields, mut.Set)
	for _, k := range mut.Delete {
		delete(fields, k) // a user tie undone by SetUser("")
	}
	return fields, nil
}
