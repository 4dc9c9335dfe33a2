package backup

import "testing"

// Test hooks for the external backup_test package, whose store-level tests
// need to look at what memcached really holds.

// StorageKey is the memcached key m uses for token.
func StorageKey(m *Memcached, token string) string { return m.codec.Load().storageKey(token) }

// RawKeys lists every key memcached at addr holds.
func RawKeys(t testing.TB, addr string) []string { return rawKeys(t, addr) }

// RawGet reads key from memcached at addr, bypassing the codec.
func RawGet(t testing.TB, addr, key string) ([]byte, bool) { return rawGet(t, addr, key) }

// RawSet writes key to memcached at addr, bypassing the codec.
func RawSet(t testing.TB, addr, key string, value []byte) { rawSet(t, addr, key, value) }
