// Package middleware gives net/http handlers sessions shared by every replica
// of a service, stored in the sessring cluster the replicas form among
// themselves (package store). The API is the one alexedwards/scs users know:
// LoadAndSave, Put, Get, Pop, Remove, Destroy, RenewToken, RememberMe, typed
// getters, a pluggable Codec. What differs is underneath: values travel as
// per-key deltas that merge at the session's owner, locking is cluster-wide
// and never silently skipped, and reads do not rewrite the store.
//
// # Quick start
//
//	node, err := store.Open(storeCfg) // this replica's cluster member
//	if err != nil { ... }
//	defer node.Close()
//	sessions, err := middleware.New(node, middleware.DefaultConfig())
//	if err != nil { ... }
//	mux := http.NewServeMux()
//	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
//		s := sessions.Session(r)
//		if err := s.RenewToken(r.Context()); err != nil { ... } // before privilege changes
//		s.Put("user", userID)
//	})
//	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
//		fmt.Fprintln(w, "hello", sessions.Session(r).GetString("user"))
//	})
//	http.ListenAndServe(":8080", sessions.LoadAndSave(mux))
//
// # Routers
//
// LoadAndSave is a plain func(http.Handler) http.Handler, so it plugs into
// any router through the router's standard adapter:
//
//	// chi
//	r := chi.NewRouter()
//	r.Use(sessions.LoadAndSave)
//
//	// echo
//	e := echo.New()
//	e.Use(echo.WrapMiddleware(sessions.LoadAndSave))
//	// in a handler: sessions.Session(c.Request())
//
//	// gin, with github.com/gwatts/gin-adapter
//	g := gin.New()
//	g.Use(adapter.Wrap(sessions.LoadAndSave))
//	// in a handler: sessions.Session(c.Request)
//
// gorilla/sessions code switches with one line: see package gorillastore.
//
// # When the session is saved
//
// Changes are collected during the request and written just before the
// response headers leave (the first Write, WriteHeader, Flush or Hijack) or
// when the handler returns, whichever is first; the body is never buffered.
// Only the keys that changed are sent, as one store.Mutation; a Put of the
// value already stored sends nothing; a value changed in place (a map read
// with Get and modified without Put) is detected and sent. An unchanged
// session causes no write at all, except an idle touch at most once per
// TouchInterval. Changes made after the headers left are still written when
// the handler returns, but cookies can no longer change, so values put into
// a brand-new session at that point are lost (logged, Stats.LateWrites).
// Writes are detached from the client's cancellation and bounded by
// StoreTimeout.
//
// The Set-Cookie header is sent only when the client's copy is wrong: a new
// or renewed token, a RememberMe change, a persistent cookie whose deadline
// moved, a destroyed session or a token that no longer exists. Every
// response gets "Vary: Cookie".
//
// # Concurrent requests and locking
//
// With LockNone (the default) requests of one session run in parallel and
// their deltas merge at the session's owner: two requests that change
// different keys both survive; for the same key, the last write wins.
//
// LockExclusive serializes every request of a session across the whole
// cluster with a lease taken before the load and released after the
// handler. Writes carry the lease, so a request that outlived LockTTL cannot
// overwrite its successor (it fails with store.ErrLeaseLost, a 503). A
// request that cannot get the lock within LockWait fails with
// ErrLockTimeout (503) without running the handler: it never proceeds
// unlocked.
//
// LockAuto locks a request unless its route was seen leaving the session
// unmodified for the last LockAutoAfter requests (default 10). A route is
// the ServeMux pattern when LoadAndSave wraps a single route, otherwise the
// method and the path with identifier-like segments (containing a digit, or
// longer than 24 bytes) folded to "*". One modifying request puts the route
// back under locking until it proves itself again; unlocked requests are
// observed too, so a wrong guess costs one unlocked request, whose delta
// still merges per key. Touches do not count as modifications. LockPattern
// restricts either mode to matching paths.
//
// # Expiry and cookies
//
// The server decides expiry: Lifetime is absolute from creation (or
// RenewToken), IdleTimeout counts from the last write or touch, and the
// store deletes the session at the earlier of the two, on every node; both
// are sent as absolute times, never as relative TTLs. The cookie only
// mirrors the result: with Cookie.Persist (default) its Expires and Max-Age
// equal the server deadline, without it the cookie lives until the browser
// closes. RememberMe overrides Persist per session. OnExpire fires once per
// expired session, on the node that owned it.
//
// An idle touch never brings back a session that expired meanwhile. A write
// of changed keys that races the session's expiry, or its Destroy by a
// concurrent request, does recreate it holding only those keys (under the
// original deadlines, never without one), because the store's Apply creates
// absent sessions.
//
// Cookie.Secure defaults to SecureAuto: Secure when the request came over
// TLS, or over a trusted proxy reporting https. So plain-HTTP development
// works and TLS deployments are safe; behind a TLS-terminating proxy set
// TrustForwardedProto (the Manager warns once when it sees
// X-Forwarded-Proto: https it may not trust). HttpOnly and SameSite=Lax are
// on by default.
//
// # Tokens
//
// Tokens are 256 random bits minted by the store (owned by this node with
// Config.Sticky). Tokens a client presents that are malformed, longer than
// store.MaxTokenLen or unknown are treated as no session and counted; the
// middleware never adopts a client-chosen token. With several cookies of
// the same name, the first that names a live session wins.
//
// # Values and codecs
//
// Each key is encoded on its own with Config.Codec (DefaultCodec keeps Go
// types exact and falls back to gob), wrapped in a one-byte envelope and
// S2-compressed above CompressAbove. A value that no longer decodes, say
// after a type changed in a deploy, is dropped alone (logged,
// Stats.DecodeFailures) and stays in the store until the handler overwrites
// or removes it, so an older replica cannot erase a newer one's data. No
// request fails because of it. A write that would make the session exceed
// MaxSessionBytes fails with ErrSessionTooLarge and stores nothing.
//
// # Errors
//
// Failures the handler cannot see (load, lock, save) go to ErrorFunc. The
// default logs them and answers 503 with Retry-After for conditions worth
// retrying (StatusFor) and 500 otherwise. A store outage is never turned into
// an empty session, which would silently lose the user's data.
package middleware
