// Package memstore is an in-memory twin of *store.Node for the middleware's
// tests, examples and benchmarks: the same method set and contract (field
// deltas, Create, IfExists, IfVersion and Lease checks, idle and absolute expiry,
// waiting leases with a ttl, expiry events), in one process, with a settable
// clock and injectable failures and delays.
//
// It is not a product: no replication, no memory limit, and expired
// sessions leave only on Sweep.
package memstore
