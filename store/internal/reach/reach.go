package reach

import (
	"slices"
	"time"
)

// Forever is the silence of a node that cannot hear from a majority at all
// (too few members alive).
const Forever = time.Duration(1<<63 - 1)

// Window is the freshness window of the quorum for a gossip probe interval
// and suspicion multiplier: half of memberlist's shortest suspicion timeout
// (mult × probe), so it ends well before any node can be declared dead.
func Window(probe time.Duration, mult int) time.Duration {
	return time.Duration(mult) * probe / 2
}

// Known is how many members a node counts towards the majority: the members
// of its view plus those recently lost, and itself if it is not listed (a
// leaving node still counts itself).
func Known(members, lost int, selfListed bool) int {
	known := members + lost
	if !selfListed {
		known++
	}
	return known
}

// Majority reports whether reached members (this node included) are a
// strict majority of known.
func Majority(known, reached int) bool { return 2*reached > known }

// Note records that name was heard from at at. An earlier time than the
// one recorded (a reply that took long, a clock that went back) changes
// nothing.
func Note(heard map[string]time.Time, name string, at time.Time) {
	if at.After(heard[name]) {
		heard[name] = at
	}
}

// Count reports how many of names were heard from after since.
func Count(heard map[string]time.Time, names []string, since time.Time) int {
	c := 0
	for _, n := range names {
		if heard[n].After(since) {
			c++
		}
	}
	return c
}

// Reachable reports whether self, with the members others (excluding self)
// and known members in all, has heard from a majority within window of now.
func Reachable(heard map[string]time.Time, others []string, known int, now time.Time, window time.Duration) bool {
	return Majority(known, 1+Count(heard, others, now.Add(-window)))
}

// ShouldPing reports whether a heartbeat to a member should go out: none is
// in flight and it was not heard from after recent.
func ShouldPing(heard time.Time, inFlight bool, recent time.Time) bool {
	return !inFlight && !heard.After(recent)
}

// Silence is how long before now this node last heard from enough of
// others to make a majority of known with itself: Forever if too few
// members are alive, 0 if it needs nobody. A member never heard from counts
// as heard when it entered the view (added), or a healthy start would find
// itself cut off from members it has not talked to yet.
func Silence(heard, added map[string]time.Time, others []string, known int, now time.Time) time.Duration {
	need := known / 2 // others needed besides this node: known/2+1, minus itself
	if need <= 0 {
		return 0
	}
	if len(others) < need {
		return Forever
	}
	times := make([]time.Time, 0, len(others))
	for _, m := range others {
		t := heard[m]
		if t.IsZero() {
			t = added[m]
		}
		times = append(times, t)
	}
	slices.SortFunc(times, func(a, b time.Time) int { return b.Compare(a) })
	if t := times[need-1]; !t.IsZero() {
		return now.Sub(t)
	}
	return Forever
}

// Admit updates added for a new view: members that entered it (isNew) and
// were never heard from are added at now; members gone for good (gone) are
// forgotten from both maps, and so are added members heard from since.
func Admit(heard, added map[string]time.Time, members []string, isNew, gone func(string) bool, now time.Time) {
	for _, m := range members {
		if isNew(m) && heard[m].IsZero() {
			added[m] = now
		}
	}
	for m := range added {
		if gone(m) || !heard[m].IsZero() {
			delete(added, m)
		}
	}
	for m := range heard {
		if gone(m) {
			delete(heard, m)
		}
	}
}

// Verdict caches a positive majority check for one view until Until.
type Verdict struct {
	ViewID uint64
	Until  time.Time
}

// Fresh reports whether the verdict still holds for viewID at now.
func (v *Verdict) Fresh(viewID uint64, now time.Time) bool {
	return v != nil && v.ViewID == viewID && now.Before(v.Until)
}

// Paused reports whether the gap between the last passing check and now is
// as long as the others need to declare this node dead (2 windows): it was
// paused or starved, and counts as cut off even if messages that queued
// meanwhile refreshed its contacts before any check saw the silence.
func Paused(last, now time.Time, window time.Duration) bool {
	return now.Sub(last) >= 2*window
}
