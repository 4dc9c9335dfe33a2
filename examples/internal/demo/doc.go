// Package demo is the small web app of sessring's examples: one store.Node
// and one middleware.Manager behind an HTTP server, with a page a person
// can click through and a JSON API a test can check. examples/node runs one
// per process; examples/cluster runs several as child processes behind a
// load balancer.
//
// # Routes
//
//	GET  /              the page: session, counter, who served it, owner and replica, members
//	POST /incr          increments the counter, then redirects to /
//	POST /api/incr      increments; {"session","count","served_by","owner","replica"}
//	GET  /api/session   the same without incrementing; 404 without a live session
//	GET  /api/cluster   {"self", "members": [{"name","owned","replicas"}]}
//	GET  /api/node      this node's own counts, bytes, pending partitions and events (what /api/cluster asks peers)
//	GET  /api/status    what the status picture draws (see below)
//	GET  /healthz       200 once joined; 503 while joining and while shutting down
//	GET  /readyz        200 once joined and its partitions pulled (store.Node.Ready); 503 with the reason otherwise
//	GET  /livez         200 while the process serves HTTP, from before joining until it exits
//	GET  /status        the status picture for a browser; the metrics status document (JSON) otherwise, or with ?json
//	GET  /metrics       Prometheus text format (package metrics)
//
// The session id shown everywhere is the first 12 hex digits of the
// SHA-256 of the token: enough to recognise a session, useless to hijack
// it. The token itself only travels in the HttpOnly cookie.
//
// # The status picture
//
// The page and /status draw the cluster with an inline script (no CDN, works
// offline): a card per member, coloured by state (alive, no answer, failed,
// left, stopped), with the sessions and bytes it holds as owner and replica
// and the partitions it is still pulling; the viewer's session on it (owner
// solid gold, replica dashed, an arrow for the copy); and a timeline of the
// membership events every member reported (joined, failed with the time it
// took to detect, left, caught up: when a node held all its partitions
// again, after a failure the time until the failed member's sessions were
// served again). The script redraws from /api/status every two seconds.
//
// # Per-member counts
//
// A member's "owned" and "replicas" are the sessions that member holds in
// each role, as that member counts them (store.Stats). A node knows only
// its own, so /api/cluster asks every other live member over HTTP. To find
// their HTTP addresses without another service, each node records its
// address in the cluster itself: one record (token "sessring-demo:members",
// which no cookie can name because ":" is not in the token alphabet) with
// one field per member, written with Apply so that nodes registering at the
// same time never overwrite each other. Like any session it has an owner
// and a replica and survives a crash. It is not a session, so each member
// subtracts it from its own counts; while a membership change is moving it,
// a count can be off by one for a moment. A member that does not answer
// within a second is listed with null counts.
package demo
