// Package rpc carries request/response traffic between sessring nodes:
// forwarded reads and writes, replication, partition pulls and
// anti-entropy digests.
//
// # Model
//
// A Server runs a Handler for each request; a Client sends requests with
// Call and waits for the reply. A request is an opcode (method) and an
// opaque body; a reply is a body or a RemoteError with a numeric code the
// application chooses (codes below CodeApplication are this package's).
//
// Unlike memberlist's SendReliable, which dials a TCP connection per
// message, a Client keeps Config.ConnsPerPeer persistent connections to each
// peer and multiplexes concurrent calls over them: each request carries an
// id, replies may come back in any order and are matched by id. A call whose
// deadline passes stops waiting; its late reply is dropped and the
// connection stays in use. When a connection breaks, every call waiting on
// it fails at once with ErrUnreachable and the next call redials. Calls use
// the first usable connection, where concurrent ones share system calls, and
// the next only while the first moves a frame larger than its buffer or has
// half of MaxInFlight calls waiting (at least one); a broken connection is
// redialled only when no usable one is free. As calls concentrate on one
// connection, its breaking usually fails every call in flight to that peer,
// not a share of them: callers that retry (the store does) see the whole
// burst fail at once.
//
// A caller whose connection nobody else is reading reads its reply off the
// connection itself rather than waiting for a reader goroutine to hand it
// over: on a small machine that hand-off costs as much as the round trip.
// Concurrent callers take turns; a reader goroutine holds the turn only
// while calls wait and no caller does. A connection nobody reads is checked
// (a non-consuming peek on TCP, PeerCloser in memory) before reuse, so a
// peer that closed it while idle costs a redial, not a failed call.
//
// On the server, one goroutine at a time reads a connection. It answers
// what a FastHandler can answer at once itself; for any other request it
// starts a new goroutine to read on and runs the Handler where it is, so
// the handler starts on the thread that received the request instead of
// waiting to be scheduled elsewhere.
//
// # Wire format
//
// Every frame is a 20-byte header followed by the body, integers big-endian:
//
//	offset size field
//	0      1    magic    0xA7
//	1      1    version  1
//	2      1    kind     1 request, 2 response, 3 error
//	3      1    method   application opcode (echoed in replies)
//	4      8    id       request id chosen by the client, echoed in the reply
//	12     4    aux      request: caller's remaining deadline in ms (0: none)
//	                     error: error code (0..65535); response: 0
//	16     4    length   body length in bytes, at most Config.MaxFrame
//	20     len  body     request or reply body; for errors, the message
//
// A Server given a deadline runs the handler with a ctx that expires then,
// so work the caller has given up on stops, and drops the reply if the
// deadline passed before the handler returned. The receiver of a frame with a
// bad magic or version, an unknown or misdirected kind, an oversized length
// or a truncated body closes that connection, logs a warning with the remote
// address and counts it in Stats.FramesRejected; other connections are not
// affected. Bodies are read in growing chunks, so a frame claiming a large
// length costs memory only as its bytes arrive.
//
// # Security
//
// With Config.TLS set, every connection runs a TLS handshake (bounded by
// DialTimeout on both ends) before any frame is read; package peertls builds
// a mutual-TLS configuration from the cluster's shared secret. A peer that
// fails the handshake never reaches the Handler, and its caller gets
// ErrUnreachable. Without TLS, anyone who can reach the port can call the
// Handler.
//
// Connections that have not authenticated are bounded too: a connection
// whose handshake has not completed within DialTimeout is closed, and each
// listener holds at most Config.MaxConns connections at once (further ones
// are closed as soon as they are accepted, counted in Stats.ConnsRefused),
// so a process that opens connections and sends nothing cannot exhaust the
// node's goroutines or file descriptors.
//
// # Flow control and lifecycle
//
// Each server connection runs at most Config.MaxInFlight handlers; when
// they are all busy the server stops reading that connection, and TCP pushes
// back on the client. Writes are serialised per connection, batched while
// more writers are queued, and bounded by Config.WriteTimeout so a stalled
// peer cannot block writers forever. A server that has already received the
// next request when it answers one leaves the reply for the next write, so
// requests that arrive together are answered in one write. On the client,
// callers handed their replies by another goroutine tend to send their next
// requests together: a small request sent while some of them have yet to
// send waits one yield of the thread for theirs, and the last writes all at
// once. Stats.Writes counts the writes.
//
// Client.Close and Server.Close are idempotent and return only after every
// goroutine they started has exited. Server.Close cancels handler contexts
// and waits for handlers to return.
package rpc
