// Package reach holds the reachability rules of the majority quorum: which
// members count as reachable, when a node has a majority, how long it has
// gone without one, and when to ping a member.
//
// # Why
//
// A gossip view is not a quorum: failure detection is staggered, so the
// minority side of a network partition passes through views in which it
// still lists some of the majority as alive. So the majority rule counts
// only members heard from (any request, reply or heartbeat) during the last
// Window, which ends before memberlist can declare anyone dead.
//
// # Time and state
//
// Every function takes the current time as an argument and reads no clock.
// The maps of last-heard times belong to the caller, which guards them with
// its own mutex; the functions here read and update them and start nothing.
// A time that goes backwards never makes a member heard later than it was.
package reach
