// Package admit decides whether a session version fits on a node: the
// per-session size limit, the node's byte budget, how much passivation
// must free, and, under the EvictUnprotected policy, when eviction starts,
// when it stops and in which order sessions go.
//
// # Rules
//
// A version's body (value plus field names and values) must not exceed
// the per-session limit. A write that grows the node's bytes past its
// budget needs the excess freed first (Need); passivation frees Slack of
// the budget beyond that (Target), so a node at its limit does not scan
// its memory on every write. Eviction starts above High percent of the
// budget and stops at Low percent, least recently used first (Oldest).
//
// # Time and state
//
// Everything here is a function of the counts and access times it is
// given; it reads no clock and holds no state.
package admit
