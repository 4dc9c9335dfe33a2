// Package testkit holds the scaffolding every test package of sessring
// shares, so each piece is written once:
//
// # Waiting
//
// Eventually polls a condition until it holds or a deadline passes
// (EventuallyWhy also reports why it did not hold at the last check);
// tests never sleep for a fixed time to let something happen.
//
// # Leaks
//
// CheckGoroutines fails a test whose goroutines outlive it.
//
// # Logs
//
// QuietLogger discards logs unless SESSRING_TEST_LOG names a level.
//
// # The inner loop
//
// SkipShort skips, under go test -short, a test that starts clusters,
// processes, network namespaces or a browser, so the unit level (codecs,
// golden formats, version rules, pure logic) runs in seconds.
//
// # Cluster timing
//
// InMemory and Processes are the failure-detection settings for test
// clusters, tuned once for a loaded two-core machine running the race
// detector.
//
// The package imports nothing of sessring, so package store's own
// (internal) tests can use it without an import cycle.
package testkit
