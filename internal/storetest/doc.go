// Package storetest holds the store settings that the tests of packages
// built on store (backup, middleware) share, so the tuning that keeps
// race-enabled clusters on a two-core machine stable lives in one place.
// (store's own tests are inside package store and keep their copy: this
// package imports store.)
package storetest
