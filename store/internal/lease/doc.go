// Package lease holds the rules of the read leases between an owner and
// its replica: how long a lease lasts on each side, when the owner may
// serve from memory, and when a replica promoted to owner may start.
//
// # Why
//
// An owner answers reads from its own memory, with no round trip, only
// while it holds a lease from its replica for the current view. The replica
// grants the lease only when its own view agrees, and remembers how long it
// granted it; if it later takes over the partition it waits until that
// grant has run out. So an old owner (cut off, or wrongly declared dead)
// has stopped serving reads by the time the new owner accepts writes.
//
// # Time
//
// The owner counts its lease from the time it sent the request, minus a
// Margin, so the lease ends on its side before the grant ends on the
// replica's, whatever the clocks read (only their rates must roughly
// agree). Every function takes the time as an argument; none reads a
// clock.
package lease
