package locktable

import (
	"errors"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// step is one call on a table, checked against what it should return.
type step struct {
	do   string // acquire, release, abandon, sweep, drop
	tok  string
	ttl  time.Duration
	n    uint64 // nonce (acquire, abandon) or id (release)
	at   time.Duration
	deny error // grantable's verdict (acquire)
	// want, for acquire: the id granted (0: none), busy: held by another,
	// err: the error.
	want uint64
	busy bool
	err  error
}

func run(t *testing.T, steps []step) *Table {
	t.Helper()
	tb := New(100)
	for i, s := range steps {
		now := t0.Add(s.at)
		switch s.do {
		case "acquire":
			var grantable func() error
			if s.deny != nil {
				grantable = func() error { return s.deny }
			}
			id, busy, err := tb.Acquire(s.tok, s.ttl, s.n, now, grantable)
			if id != s.want || (busy != nil) != s.busy || !errors.Is(err, s.err) {
				t.Fatalf("step %d: Acquire(%q, %v, nonce %d, +%v) = %d, busy %v, %v; want %d, busy %v, %v",
					i, s.tok, s.ttl, s.n, s.at, id, busy != nil, err, s.want, s.busy, s.err)
			}
		case "release":
			tb.Release(s.tok, s.n)
		case "abandon":
			tb.Abandon(s.tok, s.n, now)
		case "sweep":
			tb.Sweep(now)
		case "drop":
			tb.DropUnless(func(string) bool { return false })
		default:
			t.Fatalf("step %d: unknown step %q", i, s.do)
		}
	}
	return tb
}

func TestAcquire(t *testing.T) {
	denied := errors.New("not owner")
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"free token is granted", []step{
			{do: "acquire", tok: "s", ttl: time.Second, n: 7, want: 101},
		}},
		{"held token is busy", []step{
			{do: "acquire", tok: "s", ttl: time.Second, n: 7, want: 101},
			{do: "acquire", tok: "s", ttl: time.Second, n: 8, at: 999 * time.Millisecond, busy: true},
		}},
		{"expiry exactly at now frees it", []step{
			{do: "acquire", tok: "s", ttl: time.Second, n: 7, want: 101},
			{do: "acquire", tok: "s", ttl: time.Second, n: 8, at: time.Second, want: 102},
		}},
		{"holder's second attempt gets the same id", []step{
			{do: "acquire", tok: "s", ttl: time.Second, n: 7, want: 101},
			{do: "acquire", tok: "s", ttl: time.Second, n: 7, at: time.Millisecond, want: 101},
		}},
		{"holder's attempt after expiry gets a new id", []step{
			{do: "acquire", tok: "s", ttl: time.Second, n: 7, want: 101},
			{do: "acquire", tok: "s", ttl: time.Second, n: 7, at: time.Second, want: 102},
		}},
		{"anonymous requests never share a lease", []step{
			{do: "acquire", tok: "s", ttl: time.Second, want: 101},
			{do: "acquire", tok: "s", ttl: time.Second, busy: true},
		}},
		{"other tokens are independent", []step{
			{do: "acquire", tok: "s", ttl: time.Second, n: 7, want: 101},
			{do: "acquire", tok: "t", ttl: time.Second, n: 8, want: 102},
		}},
		{"grantable refuses a free token", []step{
			{do: "acquire", tok: "s", ttl: time.Second, n: 7, deny: denied, err: denied},
			{do: "acquire", tok: "s", ttl: time.Second, n: 8, want: 101},
		}},
		{"grantable is not asked while busy", []step{
			{do: "acquire", tok: "s", ttl: time.Second, n: 7, want: 101},
			{do: "acquire", tok: "s", ttl: time.Second, n: 8, deny: denied, busy: true},
		}},
		{"release by the holder frees it", []step{
			{do: "acquire", tok: "s", ttl: time.Minute, n: 7, want: 101},
			{do: "release", tok: "s", n: 101},
			{do: "acquire", tok: "s", ttl: time.Minute, n: 8, want: 102},
		}},
		{"release by another id keeps it", []step{
			{do: "acquire", tok: "s", ttl: time.Minute, n: 7, want: 101},
			{do: "release", tok: "s", n: 99},
			{do: "acquire", tok: "s", ttl: time.Minute, n: 8, busy: true},
		}},
		{"abandoning the holder frees it and refuses it", []step{
			{do: "acquire", tok: "s", ttl: time.Minute, n: 7, want: 101},
			{do: "abandon", tok: "s", n: 7},
			{do: "acquire", tok: "s", ttl: time.Minute, n: 7, err: ErrAbandoned},
			{do: "acquire", tok: "s", ttl: time.Minute, n: 8, want: 102},
		}},
		{"abandoned before arriving is refused", []step{
			{do: "abandon", tok: "s", n: 7},
			{do: "acquire", tok: "s", ttl: time.Minute, n: 7, err: ErrAbandoned},
		}},
		{"abandoning another nonce keeps the holder", []step{
			{do: "acquire", tok: "s", ttl: time.Minute, n: 7, want: 101},
			{do: "abandon", tok: "s", n: 8},
			{do: "acquire", tok: "s", ttl: time.Minute, n: 7, want: 101},
		}},
		{"anonymous is never abandoned", []step{
			{do: "abandon", tok: "s", n: 0},
			{do: "acquire", tok: "s", ttl: time.Minute, want: 101},
		}},
		{"abandoned nonce remembered for AbandonMemory", []step{
			{do: "abandon", tok: "s", n: 7},
			{do: "sweep", at: AbandonMemory},
			{do: "acquire", tok: "s", ttl: time.Minute, n: 7, at: AbandonMemory, err: ErrAbandoned},
		}},
		{"abandoned nonce forgotten after AbandonMemory", []step{
			{do: "abandon", tok: "s", n: 7},
			{do: "sweep", at: AbandonMemory + time.Nanosecond},
			{do: "acquire", tok: "s", ttl: time.Minute, n: 7, at: AbandonMemory, want: 101},
		}},
		{"drop frees every lease", []step{
			{do: "acquire", tok: "s", ttl: time.Minute, n: 7, want: 101},
			{do: "drop"},
			{do: "acquire", tok: "s", ttl: time.Minute, n: 8, want: 102},
		}},
		{"clock going backwards keeps the lease", []step{
			{do: "acquire", tok: "s", ttl: time.Second, n: 7, at: time.Minute, want: 101},
			{do: "sweep", at: 0},
			{do: "acquire", tok: "s", ttl: time.Second, n: 8, at: 0, busy: true},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { run(t, tc.steps) })
	}
}

func TestHolds(t *testing.T) {
	tb := New(0)
	id, _, err := tb.Acquire("s", time.Second, 7, t0, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		tok  string
		id   uint64
		at   time.Duration
		want bool
	}{
		{"holder", "s", id, 0, true},
		{"holder just before the end", "s", id, time.Second - 1, true},
		{"holder at the end", "s", id, time.Second, false},
		{"holder before the grant (clock went back)", "s", id, -time.Hour, true},
		{"another id", "s", id + 1, 0, false},
		{"another token", "t", id, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tb.Holds(tc.tok, tc.id, t0.Add(tc.at)); got != tc.want {
				t.Fatalf("Holds(%q, %d, +%v) = %v, want %v", tc.tok, tc.id, tc.at, got, tc.want)
			}
		})
	}
}

func TestFreedClosed(t *testing.T) {
	for _, tc := range []struct {
		name string
		free func(tb *Table)
	}{
		{"release", func(tb *Table) { tb.Release("s", 1) }},
		{"abandon", func(tb *Table) { tb.Abandon("s", 7, t0) }},
		{"drop", func(tb *Table) { tb.DropUnless(func(string) bool { return false }) }},
		{"sweep at the end", func(tb *Table) { tb.Sweep(t0.Add(time.Second)) }},
		{"replaced after expiry", func(tb *Table) { tb.Acquire("s", time.Second, 8, t0.Add(time.Second), nil) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := New(0)
			tb.Acquire("s", time.Second, 7, t0, nil)
			l := tb.Lease("s")
			tc.free(tb)
			select {
			case <-l.Freed:
			default:
				t.Fatalf("%s did not close the lease's Freed channel", tc.name)
			}
		})
	}
	t.Run("sweep before the end keeps it", func(t *testing.T) {
		tb := New(0)
		tb.Acquire("s", time.Second, 7, t0, nil)
		l := tb.Lease("s")
		tb.Sweep(t0.Add(time.Second - 1))
		select {
		case <-l.Freed:
			t.Fatal("Sweep before the lease's end closed Freed")
		default:
		}
		if leases, _ := tb.Len(); leases != 1 {
			t.Fatalf("Len() = %d leases after an early sweep, want 1", leases)
		}
	})
}
