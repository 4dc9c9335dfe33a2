package reach

import (
	"maps"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestMajority(t *testing.T) {
	for _, tc := range []struct {
		name          string
		members, lost int
		listed        bool
		reached       int
		wantKnown     int
		wantMajority  bool
	}{
		{"alone", 1, 0, true, 1, 1, true},
		{"two of three", 3, 0, true, 2, 3, true},
		{"one of three", 3, 0, true, 1, 3, false},
		{"half of four is no majority", 4, 0, true, 2, 4, false},
		{"lost members count", 2, 1, true, 1, 3, false},
		{"leaving node counts itself", 2, 0, false, 2, 3, true},
		{"empty view, not listed", 0, 0, false, 1, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			known := Known(tc.members, tc.lost, tc.listed)
			if known != tc.wantKnown {
				t.Fatalf("Known(%d, %d, %v) = %d, want %d", tc.members, tc.lost, tc.listed, known, tc.wantKnown)
			}
			if got := Majority(known, tc.reached); got != tc.wantMajority {
				t.Fatalf("Majority(%d, %d) = %v, want %v", known, tc.reached, got, tc.wantMajority)
			}
		})
	}
}

func TestReachable(t *testing.T) {
	w := time.Second
	heard := map[string]time.Time{"b": t0.Add(-w / 2), "c": t0.Add(-w), "d": t0.Add(-2 * w)}
	for _, tc := range []struct {
		name   string
		others []string
		known  int
		want   bool
	}{
		{"fresh peer makes two of three", []string{"b", "d"}, 3, true},
		{"heard exactly a window ago is stale", []string{"c", "d"}, 3, false},
		{"never heard", []string{"x", "y"}, 3, false},
		{"no others", nil, 1, true},
		{"no others but known peers", nil, 3, false},
		{"one fresh of five", []string{"b", "c", "d", "x"}, 5, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Reachable(heard, tc.others, tc.known, t0, w); got != tc.want {
				t.Fatalf("Reachable(%v, known %d) = %v, want %v", tc.others, tc.known, got, tc.want)
			}
		})
	}
}

func TestNote(t *testing.T) {
	for _, tc := range []struct {
		name string
		at   []time.Duration
		want time.Duration
	}{
		{"first", []time.Duration{0}, 0},
		{"later wins", []time.Duration{0, time.Second}, time.Second},
		{"earlier is ignored (clock went back)", []time.Duration{time.Second, 0}, time.Second},
		{"tie", []time.Duration{time.Second, time.Second}, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			heard := map[string]time.Time{}
			for _, at := range tc.at {
				Note(heard, "b", t0.Add(at))
			}
			if got := heard["b"]; !got.Equal(t0.Add(tc.want)) {
				t.Fatalf("heard = %v, want %v", got, t0.Add(tc.want))
			}
		})
	}
}

func TestShouldPing(t *testing.T) {
	recent := t0
	for _, tc := range []struct {
		name     string
		heard    time.Time
		inFlight bool
		want     bool
	}{
		{"never heard", time.Time{}, false, true},
		{"never heard, ping in flight", time.Time{}, true, false},
		{"heard after recent", t0.Add(1), false, false},
		{"heard exactly at recent", t0, false, true},
		{"heard long ago", t0.Add(-time.Hour), false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ShouldPing(tc.heard, tc.inFlight, recent); got != tc.want {
				t.Fatalf("ShouldPing(%v, %v) = %v, want %v", tc.heard, tc.inFlight, got, tc.want)
			}
		})
	}
}

func TestSilence(t *testing.T) {
	heard := map[string]time.Time{"b": t0.Add(-1 * time.Second), "c": t0.Add(-3 * time.Second), "d": t0.Add(-5 * time.Second)}
	added := map[string]time.Time{"new": t0.Add(-2 * time.Second), "b": t0.Add(-time.Hour)}
	for _, tc := range []struct {
		name   string
		others []string
		known  int
		want   time.Duration
	}{
		{"alone needs nobody", nil, 1, 0},
		{"two members: needs one other", []string{"b"}, 2, time.Second},
		{"three: the freshest other", []string{"b", "c"}, 3, time.Second},
		{"five: the second freshest", []string{"b", "c", "d", "x"}, 5, 3 * time.Second},
		{"never heard counts from when it was added", []string{"new", "d"}, 3, 2 * time.Second},
		{"heard wins over added", []string{"b"}, 3, time.Second},
		{"never heard nor added", []string{"x", "y"}, 3, Forever},
		{"too few alive", []string{"b"}, 5, Forever},
		{"tie", []string{"c", "c2"}, 5, 3 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := maps.Clone(heard)
			h["c2"] = heard["c"]
			if got := Silence(h, added, tc.others, tc.known, t0); got != tc.want {
				t.Fatalf("Silence(%v, known %d) = %v, want %v", tc.others, tc.known, got, tc.want)
			}
		})
	}
}

func TestAdmit(t *testing.T) {
	in := func(set ...string) func(string) bool {
		return func(m string) bool {
			for _, s := range set {
				if s == m {
					return true
				}
			}
			return false
		}
	}
	for _, tc := range []struct {
		name                 string
		heard, added         map[string]time.Time
		members              []string
		isNew, gone          func(string) bool
		wantHeard, wantAdded []string
	}{
		{"a new member never heard is added", map[string]time.Time{}, map[string]time.Time{},
			[]string{"a", "b"}, in("b"), in(), nil, []string{"b"}},
		{"a new member already heard is not", map[string]time.Time{"b": t0}, map[string]time.Time{},
			[]string{"a", "b"}, in("b"), in(), []string{"b"}, nil},
		{"an added member heard since is forgotten", map[string]time.Time{"b": t0}, map[string]time.Time{"b": t0},
			[]string{"a", "b"}, in(), in(), []string{"b"}, nil},
		{"gone members leave both maps", map[string]time.Time{"c": t0}, map[string]time.Time{"d": t0},
			[]string{"a"}, in(), in("c", "d"), nil, nil},
		{"an old member stays added", map[string]time.Time{}, map[string]time.Time{"b": t0},
			[]string{"a", "b"}, in(), in(), nil, []string{"b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			Admit(tc.heard, tc.added, tc.members, tc.isNew, tc.gone, t0.Add(time.Second))
			for _, c := range []struct {
				what string
				m    map[string]time.Time
				want []string
			}{{"heard", tc.heard, tc.wantHeard}, {"added", tc.added, tc.wantAdded}} {
				if len(c.m) != len(c.want) {
					t.Fatalf("%s = %v, want the keys %v", c.what, c.m, c.want)
				}
				for _, k := range c.want {
					if _, ok := c.m[k]; !ok {
						t.Fatalf("%s = %v, want the keys %v", c.what, c.m, c.want)
					}
				}
			}
		})
	}
}

func TestVerdict(t *testing.T) {
	v := &Verdict{ViewID: 3, Until: t0}
	for _, tc := range []struct {
		name   string
		v      *Verdict
		viewID uint64
		at     time.Duration
		want   bool
	}{
		{"fresh", v, 3, -1, true},
		{"at its end", v, 3, 0, false},
		{"another view", v, 4, -1, false},
		{"none", nil, 3, -1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.v.Fresh(tc.viewID, t0.Add(tc.at)); got != tc.want {
				t.Fatalf("Fresh(%d, %v) = %v, want %v", tc.viewID, tc.at, got, tc.want)
			}
		})
	}
}

func TestPausedAndWindow(t *testing.T) {
	if got, want := Window(200*time.Millisecond, 4), 400*time.Millisecond; got != want {
		t.Fatalf("Window(200ms, 4) = %v, want %v", got, want)
	}
	w := time.Second
	for _, tc := range []struct {
		name string
		gap  time.Duration
		want bool
	}{
		{"short gap", w, false},
		{"just under two windows", 2*w - 1, false},
		{"exactly two windows", 2 * w, true},
		{"clock went back", -time.Hour, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Paused(t0, t0.Add(tc.gap), w); got != tc.want {
				t.Fatalf("Paused(gap %v) = %v, want %v", tc.gap, got, tc.want)
			}
		})
	}
}
