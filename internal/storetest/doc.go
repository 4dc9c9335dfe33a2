// Package storetest holds what the tests of packages built on store
// (backup, middleware, metrics, the examples) share about store nodes: the
// tuning that keeps race-enabled clusters stable on a two-core machine
// (Fast), a cluster key (Key), a node's config on a test network (Config)
// and a ready-made cluster of store nodes (NewCluster) on the shared
// harness, internal/clustertest.
//
// The timing values themselves live in internal/testkit, and the harness
// in internal/clustertest, which store's own (internal) tests use too: this
// package imports store, so they cannot.
package storetest
