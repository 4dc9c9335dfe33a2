package gorillastore

import (
	"context"
	"net/http"
	"sync"

	"github.com/gorilla/sessions"

	"github.com/e5b1d45c/sessring/store"
)

// snapshot is what New saw of a session, so Save can send only changes.
type snapshot struct {
	rec    store.Record
	bad    map[string]bool // fields that did not decode
	failed bool            // the load failed: the session must not be saved
}

// snapshotTable holds the snapshots of one request, keyed by session.
type snapshotTable struct {
	// mu guards m.
	mu sync.Mutex
	m  map[*sessions.Session]snapshot
}

type snapshotKey struct{}

// snapshots returns r's table, attaching one to r on first use the way
// gorilla attaches its registry (by replacing *r with a copy carrying the
// new context), so it lives exactly as long as the request.
func snapshots(r *http.Request) *snapshotTable {
	if t, ok := r.Context().Value(snapshotKey{}).(*snapshotTable); ok {
		return t
	}
	t := &snapshotTable{m: make(map[*sessions.Session]snapshot)}
	*r = *r.WithContext(context.WithValue(r.Context(), snapshotKey{}, t))
	return t
}

func (t *snapshotTable) get(s *sessions.Session) (snapshot, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	snap, ok := t.m[s]
	return snap, ok
}

func (t *snapshotTable) put(s *sessions.Session, snap snapshot) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.m[s] = snap
}

func (t *snapshotTable) drop(s *sessions.Session) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, s)
}
