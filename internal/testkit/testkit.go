package testkit

import (
	"io"
	"log/slog"
	"os"
	"runtime"
	"testing"
	"time"
)

// maxPoll caps the interval between two checks of a condition.
const maxPoll = 20 * time.Millisecond

// Eventually polls cond until it holds, failing t with what if timeout
// passes first. The first checks come quickly (1ms, doubling up to 20ms), so
// a condition that is nearly true costs little and a slow one is not
// hammered.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	EventuallyWhy(t, timeout, what, func() (bool, string) { return cond(), "" })
}

// EventuallyWhy is Eventually for a condition that says why it does not
// hold yet (what a process last answered, say); the failure message ends
// with the last reason.
func EventuallyWhy(t testing.TB, timeout time.Duration, what string, cond func() (ok bool, why string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for wait := time.Millisecond; ; wait = min(2*wait, maxPoll) {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			if why != "" {
				t.Fatalf("timed out after %v waiting for %s; last: %s", timeout, what, why)
			}
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(wait)
	}
}

// CheckGoroutines records how many goroutines run now and, when t's
// cleanups have run, waits up to timeout for the count to be back at that
// baseline; otherwise it fails t and prints every goroutine's stack. Call it
// first in a test so its cleanup runs last.
func CheckGoroutines(t testing.TB, timeout time.Duration) {
	t.Helper()
	base := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(timeout)
		for wait := time.Millisecond; runtime.NumGoroutine() > base; wait = min(2*wait, maxPoll) {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				n := runtime.Stack(buf, true)
				t.Errorf("goroutines = %d after test, want <= %d\n%s", runtime.NumGoroutine(), base, buf[:n])
				return
			}
			time.Sleep(wait)
		}
	})
}

// QuietLogger discards logs unless SESSRING_TEST_LOG is set to a level
// (debug, info, warn, error), which helps when a fault scenario fails: then
// it writes them to stderr from that level up.
func QuietLogger() *slog.Logger {
	var level slog.Level
	if lv := os.Getenv("SESSRING_TEST_LOG"); lv != "" && level.UnmarshalText([]byte(lv)) == nil {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// SkipShort skips t under go test -short, saying why (what it starts: a
// cluster, processes, a browser, a fault scenario). The full suite runs it.
func SkipShort(t testing.TB, why string) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: " + why)
	}
}
