package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/store/internal/clock"
)

// manualNode starts one node whose clock moves only when the test says.
// MinorityServe keeps the reachability quorum out of it: a jump of the
// clock would otherwise read as a long pause (resync.go).
func manualNode(t *testing.T) (*Node, *clock.Manual) {
	t.Helper()
	clk := clock.NewManual(time.Now())
	c := newTestCluster(t, 0)
	c.tweak = func(cfg *Config) {
		cfg.Clock = clk
		cfg.Minority = MinorityServe
	}
	n := c.Add()
	c.WaitConverged()
	return n, clk
}

// TestManualClockLockExpiry: a lock ends when the node's clock reaches its
// ttl, exactly, with no sleep: a write fenced by it fails from then on, and
// another caller gets the lock at once.
func TestManualClockLockExpiry(t *testing.T) {
	n, clk := manualNode(t)
	ctx := context.Background()
	const tok = "manual-lock"
	if _, err := n.Apply(ctx, tok, Mutation{Create: true, Set: map[string][]byte{"k": []byte("v")}}); err != nil {
		t.Fatal(err)
	}
	const ttl = 10 * time.Second
	lease, err := n.Lock(ctx, tok, ttl)
	if err != nil {
		t.Fatal(err)
	}
	fenced := Mutation{Set: map[string][]byte{"k": []byte("w")}, Lease: lease}
	for _, step := range []struct {
		name    string
		advance time.Duration
		want    error
	}{
		{"just granted", 0, nil},
		{"a nanosecond before the end", ttl - time.Nanosecond, nil},
		{"at the end", time.Nanosecond, ErrLeaseLost},
	} {
		clk.Advance(step.advance)
		if _, err := n.Apply(ctx, tok, fenced); !errors.Is(err, step.want) {
			t.Fatalf("%s: Apply with the lease = %v, want %v", step.name, err, step.want)
		}
	}
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if _, err := n.Lock(short, tok, ttl); err != nil {
		t.Fatalf("Lock after the holder's ttl passed on the node's clock = %v, want the lock at once", err)
	}
}

// TestManualClockSessionExpiry: a session is readable until its expiry on
// the node's clock and gone from that instant, and a touch moves an idle
// deadline, all without waiting.
func TestManualClockSessionExpiry(t *testing.T) {
	n, clk := manualNode(t)
	ctx := context.Background()
	start := clk.Now()
	if err := n.CommitCtx(ctx, "abs", []byte("v"), start.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Apply(ctx, "idle", Mutation{Set: map[string][]byte{"k": []byte("v")}, Idle: time.Minute}); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		name      string
		at        time.Duration
		touchIdle bool
		abs, idle bool // want found
	}{
		{"fresh", 0, false, true, true},
		{"just before a minute", time.Minute - time.Nanosecond, true, true, true},
		{"at a minute", time.Minute, false, false, true}, // idle was touched just before
		{"a minute after the touch", 2*time.Minute - time.Nanosecond, false, false, false},
	} {
		clk.Set(start.Add(step.at))
		if _, found, err := n.FindCtx(ctx, "abs"); err != nil || found != step.abs {
			t.Fatalf("%s: FindCtx(abs) found=%v, %v; want found=%v", step.name, found, err, step.abs)
		}
		if _, found, err := n.Load(ctx, "idle"); err != nil || found != step.idle {
			t.Fatalf("%s: Load(idle) found=%v, %v; want found=%v", step.name, found, err, step.idle)
		}
		if step.touchIdle {
			if _, err := n.Apply(ctx, "idle", Mutation{Touch: true}); err != nil {
				t.Fatal(err)
			}
		}
	}
}
