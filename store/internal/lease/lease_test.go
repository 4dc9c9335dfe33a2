package lease

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestValid(t *testing.T) {
	h := Hold(7, t0)
	end := Duration - Margin
	for _, tc := range []struct {
		name   string
		h      Held
		viewID uint64
		at     time.Duration
		want   bool
	}{
		{"just granted", h, 7, 0, true},
		{"just before the end", h, 7, end - 1, true},
		{"at the end", h, 7, end, false},
		{"after the end", h, 7, Duration, false},
		{"another view", h, 8, 0, false},
		{"clock went back before the request", h, 7, -time.Hour, true},
		{"none held, view 0", Held{}, 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.h.Valid(tc.viewID, t0.Add(tc.at)); got != tc.want {
				t.Fatalf("Valid(view %d, +%v) = %v, want %v", tc.viewID, tc.at, got, tc.want)
			}
		})
	}
}

// The owner's lease ends before the replica's grant, for a grant made at
// any moment after the owner sent its request.
func TestHoldEndsBeforeGrant(t *testing.T) {
	for _, delay := range []time.Duration{0, time.Millisecond, Duration / 2} {
		if held, granted := Hold(1, t0).Until, Grant(t0.Add(delay)); !held.Before(granted) {
			t.Errorf("reply after %v: owner's lease ends %v, replica's grant %v; want the lease first", delay, held, granted)
		}
	}
}

func TestMayServe(t *testing.T) {
	valid := Hold(7, t0)
	for _, tc := range []struct {
		name       string
		at         time.Duration
		block      time.Duration // blockUntil relative to t0; 0: none
		hasReplica bool
		h          Held
		want       bool
	}{
		{"no replica, no block", 0, 0, false, Held{}, true},
		{"no replica, blocked", 0, time.Second, false, Held{}, false},
		{"no replica, block ends exactly now", time.Second, time.Second, false, Held{}, true},
		{"replica and a valid lease", 0, 0, true, valid, true},
		{"replica and no lease", 0, 0, true, Held{}, false},
		{"replica, lease for another view", 0, 0, true, Held{ViewID: 8, Until: valid.Until}, false},
		{"replica, lease ends exactly now", Duration - Margin, 0, true, valid, false},
		{"valid lease but blocked", 0, time.Millisecond, true, valid, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var block time.Time
			if tc.block != 0 {
				block = t0.Add(tc.block)
			}
			if got := MayServe(t0.Add(tc.at), block, tc.hasReplica, tc.h, 7); got != tc.want {
				t.Fatalf("MayServe(+%v, block %v, replica %v) = %v, want %v", tc.at, tc.block, tc.hasReplica, got, tc.want)
			}
		})
	}
}
