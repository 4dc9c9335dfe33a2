// Package gorillastore is a gorilla/sessions Store backed by the sessring
// cluster, so gorilla users move to shared server-side sessions by changing
// the line that builds their store:
//
//	// before: var sessions = sessions.NewCookieStore(key)
//	var sessions = gorillastore.New(node) // node is this replica's *store.Node
//
//	func handler(w http.ResponseWriter, r *http.Request) {
//		s, err := sessions.Get(r, "app")
//		if err != nil { ... }          // the store is unreachable: do not save
//		s.Values["user"] = "ann"
//		s.AddFlash("welcome")
//		if err := s.Save(r, w); err != nil { ... }
//	}
//
// # What is stored
//
// Only the random session token travels in the cookie (256 bits, no signing
// keys to manage); the values stay server-side, one stored field per key,
// encoded like package middleware's (same codec and compression envelope),
// so the two can read each other's sessions. String keys are stored as is;
// other keys (gorilla allows Values[42]) are encoded into a reserved field
// name. Save sends only the keys that changed since Get, so concurrent
// requests that change different keys both survive.
//
// # Expiry
//
// Options.MaxAge keeps gorilla's meaning: the session lives MaxAge seconds
// after its last Save (gorilla's stores re-issue the cookie on each Save).
// Server-side that is the idle timeout; the cookie's Max-Age is computed
// from the server deadline, so the two never disagree. Store.Lifetime caps
// the total life (default 30 days). A session with MaxAge 0 (a
// browser-session cookie) expires after Store.IdleTimeout without a Save
// (default 24h). MaxAge < 0 deletes the session, in the store too.
//
// A session deleted (by another request, on any node) or expired after Get
// stays gone: Save drops the changes, empties the session, expires the
// cookie and returns nil, rather than bringing it back with the values this
// request happened to hold.
//
// # Errors
//
// When the store cannot be reached, Get returns a new empty session and the
// error, like gorilla's stores for undecodable cookies; Save then refuses to
// write that session rather than replace the user's real one. A value that
// no longer decodes is dropped from Values alone (logged).
//
// # Secure cookies
//
// Options.Secure is honoured, and a request that came over TLS always gets
// a Secure cookie, so plain-HTTP development keeps working without making
// production cookies insecure.
package gorillastore
