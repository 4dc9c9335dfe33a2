// Package memcachedtest starts real memcached processes on free loopback
// ports for tests and benchmarks.
//
// Tests call Start, which skips when memcached is not installed (and fails
// when the CI environment variable is "true", so CI cannot silently skip).
// Stop kills the process with SIGKILL to simulate a crash; Restart brings it
// back, empty, on the same port.
package memcachedtest
