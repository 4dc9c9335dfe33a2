// Package clock is the one source of time of a store node.
//
// # Why
//
// The rules that decide correctness in package store (lock expiry, read
// leases, the reachability quorum, write-id memory, session expiry) compare
// times. They take the current time as an argument, and the node reads it
// from a single Clock given in its Config, so a test can move time forward
// by an exact amount instead of sleeping and hoping a deadline has passed.
//
// # What it does not cover
//
// Timers and tickers that pace background loops, and deadlines handed to
// network calls, keep using the real clock: they bound waiting on real
// sockets and goroutines, which a manual clock cannot speed up.
//
// # Implementations
//
// Real reads time.Now. Manual is moved by hand (Set, Advance), for tests;
// it is safe for concurrent use.
package clock
