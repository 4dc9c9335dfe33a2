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
// LoadAndSave is a plain func(http.Handler) http.Handler. Routers whose
// middleware has that type take it as is:
//
//	r := chi.NewRouter()
//	r.Use(sessions.LoadAndSave)
//
// gin and echo engines are http.Handlers themselves; wrap the whole engine,
// so that every byte of the response, whichever helper writes it, passes
// through the middleware's ResponseWriter and the session is saved before
// the headers leave:
//
//	g := gin.New() // in a handler: sessions.Session(c.Request)
//	http.ListenAndServe(addr, sessions.LoadAndSave(g))
//
//	e := echo.New() // in a handler: sessions.Session(c.Request())
//	http.ListenAndServe(addr, sessions.LoadAndSave(e))
//
// Their adapters for net/http middleware are not equivalent. echo v4's
// e.Use(echo.WrapMiddleware(sessions.LoadAndSave)) works: it hands the
// middleware's writer to the handlers (older releases did not). gin's
// gwatts/gin-adapter forwards only Header, Write and WriteHeader, so
// c.Writer.WriteString, c.Writer.Flush (c.Stream, SSE) and c.Writer.Hijack
// go around the middleware: the response then starts before the session is
// saved, and a new session's cookie cannot be sent (Stats.LateWrites). Use
// IgnorePattern for the routes that need no session.
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
// response gets "Vary: Cookie" (and Vary on TokenHeader when set), and a
// response that carries a token in TokenHeader gets "Cache-Control:
// private, no-store", replacing what the handler set: no cache may hand a
// credential to another client.
//
// # Concurrent requests and locking
//
// Config.Locking chooses which requests of a session run one at a time,
// cluster-wide (MSM's lockingMode):
//
//   - LockNone (the default) never locks. Requests of one session run in
//     parallel on any nodes and their deltas merge at the session's owner:
//     two requests that change different keys both survive; for the same
//     key, the last write wins.
//   - LockExclusive serializes every request of a session across the
//     cluster with a lease at the session's owner, taken before the load and
//     released after the handler. Twenty parallel increments of one counter
//     through three nodes give exactly twenty.
//   - LockAuto always locks requests with unsafe methods (POST, PUT, PATCH,
//     DELETE and any method other than GET, HEAD, OPTIONS and TRACE). A
//     safe-method request is locked unless its route was seen leaving the
//     session unmodified, with a successful (below 400) answer, for the last
//     LockAutoAfter such requests (default 10) on this node; failed answers
//     do not count, and the trust lapses after five minutes, when the route
//     must prove itself again. A route is the ServeMux pattern when
//     LoadAndSave wraps a single route, otherwise the method and the path
//     with identifier-like segments (containing a digit, or longer than 24
//     bytes) folded to "*". One modifying request puts the route back under
//     locking until it proves itself again; unlocked requests are observed
//     too. A wrong guess is not limited to one request: every request of
//     the route that starts on a node before the first modifying one there
//     has finished runs unlocked, on each node that learned the route, and
//     their deltas merge per key with the last write winning. So LockAuto
//     suits GET handlers that write only incidentally; a GET handler whose
//     writes must be serialized needs LockExclusive (for its paths, with
//     LockPattern). Touches do not count as modifications.
//   - LockPattern restricts LockExclusive or LockAuto to matching paths
//     (MSM's uriPattern): say, the checkout routes only.
//
// Writes carry the lease, so a request that outlived LockTTL, or whose
// lease was lost when the session's owner changed (a node failed, left,
// joined or restarted: leases are held by the owner and do not move),
// cannot overwrite its successor. Such a request locks the session again
// and commits only if the session is still at the version it last saw (no
// other request wrote it meanwhile; Stats.Relocks counts these); otherwise
// its write fails with store.ErrLeaseLost, a 503. So a rolling restart
// fails no locked request, but while a session's owner changes, a request
// that only reads under the lock can overlap one that held it before. A request that
// cannot get the lock within LockWait fails with ErrLockTimeout (503)
// without running the handler: it never proceeds unlocked.
//
// # Consistency and node failures
//
// Reads go to the session's owner; a write is acknowledged once the owner
// and its replica hold it (the store's default Sync mode), before the
// response headers leave, so a response that reports success never hides a
// lost write, and any one node can die without losing an acknowledged
// change. A client always keeps its token: no node id is baked into it, and
// nothing is rewritten when the owner changes.
//
// When a node crashes, requests it was serving fail like those of any
// crashed server. Requests on the surviving nodes carry on: reads and writes
// of sessions the dead node held, as owner or as replica, wait until failure
// detection has moved its role to a survivor and the dead owner's read
// lease has ended (about 3 s with default gossip timing), retrying up to the
// store's OpTimeout and StoreTimeout (both store.DefaultOpTimeout, 6s, by
// default), so a request rides out a failover instead of failing. A request
// that times out answers 503 with Retry-After through ErrorFunc instead of
// its handler's response: its changes were not acknowledged (a delta is
// atomic: it was applied whole or not at all), and the client is told to
// retry. Keep StoreTimeout at or above the store's OpTimeout for requests
// to ride out a failure. Locks held at the dead owner are gone with it; see
// above for what that means for their holders.
//
// # Expiry and cookies
//
// The server decides expiry: Lifetime (default 24h) is absolute from
// creation (or RenewToken), IdleTimeout (default 30 minutes; before, idle
// expiry was off by default) counts from the last write or touch, and the
// store deletes the session at the earlier of the two, on every node; both
// are sent as absolute times, never as relative TTLs. The cookie only
// mirrors the result: with Cookie.Persist (default) its Expires and Max-Age
// equal the server deadline, without it the cookie lives until the browser
// closes. RememberMe overrides Persist per session. OnExpire fires once per
// expired session, on the node that owned it.
//
// Writes never bring a session back. Every write to an existing session (a
// delta, an idle touch, the move done by RenewToken) is conditional on the
// session still being alive at its owner (store.Mutation.IfExists). A
// request whose session was destroyed by a concurrent request, on any
// node, or expired while it ran, drops its changes (logged, Stats.Vanished)
// and ends as if it had arrived a moment later: its session is new and
// empty, the response expires the client's cookie (unless its headers left
// already), and the handler's answer stands; it is not an error. The
// changes are not carried into a new session either: after a logout they
// must not survive under any token.
//
// Cookie.Secure defaults to SecureAuto: the cookie is Secure for every
// request except plain HTTP that reached the server directly for a loopback
// host (localhost, *.localhost, 127.0.0.0/8, ::1). So plain-HTTP development
// on localhost works, and a deployment behind a TLS-terminating proxy gets
// Secure cookies without configuration, even when the proxy forwards to a
// loopback address (its Forwarded or X-Forwarded-* headers give it away).
// (Before, SecureAuto set Secure only for TLS or a trusted proxy reporting
// https, so a deployment behind a TLS proxy sent cookies without it.) A
// plain-HTTP setup on another address, such as a LAN IP in development,
// needs SecureNever, or TrustForwardedProto behind a proxy that reports
// http. HttpOnly and SameSite=Lax are on by default. Unset CookieConfig
// fields each take their default, so setting one field (a Name) keeps
// HttpOnly and Persist on; turn those off with new(false).
//
// # Users: log out everywhere
//
// Session.SetUser ties a session to an account id; Manager.UserSessions
// lists that user's live sessions (with an ID that is safe to show, never the
// token) and Manager.DestroyUser ends them all on every node, optionally
// keeping some (the device that asked). A change of the tie (a login, a
// switch of account, SetUser("")) renews the token as RenewToken does,
// unless the token was minted in the same request, so a token planted
// before the login (session fixation) never reaches the account; the old
// token is deleted and only the new one is listed. Each user has an index in the same
// store, under a key no request can present, whose fields are the tokens;
// fields merge at the owner, so concurrent logins on different nodes are all
// listed. The index entry is written before the session: when the index
// cannot be written, the session write fails and the request gets an error,
// so a stored session of the user is never missing from the list. Entries of
// sessions that ended (logout, renewal, expiry, another user) are dropped
// when the list is read, and, in the background after the login that grew
// it, when an index passes 64 entries, once they are older than
// StoreTimeout plus a minute and only if no entry was added since the read.
// A user keeps at most MaxSessionsPerUser live sessions (default 100): the
// background check ends the oldest beyond it (Stats.Capped), so an account
// that logs in over and over never fails a login on a full index.
// Manager.Close waits for that background work. The index lives as long as the longest session it lists,
// also across deploys that change Lifetime. A login that completes while
// DestroyUser runs may survive it, as one a moment later would. Managers
// with different cookie names keep separate indexes.
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
