// Package storetest holds the store settings that the tests of packages
// built on store (backup, middleware) share, so the tuning that keeps
// race-enabled clusters on a two-core machine stable lives in one place.
// The timing values themselves live in internal/testkit, which store's own
// (internal) tests use too: this package imports store, so they cannot.
package storetest
