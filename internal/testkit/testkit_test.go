package testkit

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// recorder is a testing.TB that records failures instead of ending the
// test, so the helpers' failure paths can be checked.
type recorder struct {
	testing.TB
	failed   atomic.Bool
	msg      string // of the last Fatalf
	cleanups []func()
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed.Store(true)
	r.msg = fmt.Sprintf(format, args...)
	panic(r)
}
func (r *recorder) Errorf(string, ...any) { r.failed.Store(true) }
func (r *recorder) Cleanup(f func())      { r.cleanups = append(r.cleanups, f) }
func (r *recorder) runCleanups() {
	for _, f := range r.cleanups {
		f()
	}
}
func fatalOf(r *recorder, f func()) (fatal bool) {
	defer func() {
		if p := recover(); p != nil {
			if p != r {
				panic(p)
			}
			fatal = true
		}
	}()
	f()
	return false
}

func TestEventually(t *testing.T) {
	var n atomic.Int32
	Eventually(t, time.Second, "third check", func() bool { return n.Add(1) >= 3 })
	if got := n.Load(); got != 3 {
		t.Errorf("cond called %d times, want 3", got)
	}
	r := &recorder{TB: t}
	if !fatalOf(r, func() { Eventually(r, 30*time.Millisecond, "never", func() bool { return false }) }) {
		t.Errorf("Eventually of a condition that never holds returned, want a fatal failure")
	}
}

func TestEventuallyWhy(t *testing.T) {
	var n atomic.Int32
	EventuallyWhy(t, time.Second, "second check", func() (bool, string) { return n.Add(1) >= 2, "first" })
	if got := n.Load(); got != 2 {
		t.Errorf("cond called %d times, want 2", got)
	}
	r := &recorder{TB: t}
	if !fatalOf(r, func() {
		EventuallyWhy(r, 30*time.Millisecond, "never", func() (bool, string) { return false, "still no" })
	}) {
		t.Errorf("EventuallyWhy of a condition that never holds returned, want a fatal failure")
	}
	if !strings.HasSuffix(r.msg, "last: still no") {
		t.Errorf("EventuallyWhy failed with %q, want it to end with the last reason", r.msg)
	}
}

func TestCheckGoroutines(t *testing.T) {
	clean := &recorder{TB: t}
	CheckGoroutines(clean, time.Second)
	done := make(chan struct{})
	go func() { <-done }()
	close(done)
	clean.runCleanups()
	if clean.failed.Load() {
		t.Errorf("CheckGoroutines failed after the goroutine exited, want a pass")
	}

	leaky := &recorder{TB: t}
	CheckGoroutines(leaky, 50*time.Millisecond)
	stop := make(chan struct{})
	go func() { <-stop }()
	leaky.runCleanups()
	close(stop)
	if !leaky.failed.Load() {
		t.Errorf("CheckGoroutines passed with a goroutine still running, want a failure")
	}
}
