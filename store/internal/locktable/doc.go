// Package locktable decides the session locks an owner grants (store's
// Lock): who holds a token, until when, and which requests are refused.
//
// # Rules
//
// A lock is a lease on one token for a ttl, identified by an id that fences
// writes: a write carrying an id that no longer holds the token is refused.
// A lease whose end is at or before now is free. Each request carries a
// nonce, the same for all its attempts; a second attempt of the holder gets
// the same lease. A nonce its caller abandoned frees the lease it holds and
// is refused for AbandonMemory afterwards, so a request delivered late (held
// up in a partitioned connection) cannot lock the token for nobody. Nonce 0
// is anonymous and never abandoned.
//
// # Time and concurrency
//
// Every method takes the current time as an argument; the table reads no
// clock and starts no timer. A Table is not safe for concurrent use: store
// holds a mutex around it and does the waiting (on the holder's Freed
// channel or until its Until) outside that mutex.
package locktable
