package version

import "testing"

// TestCommon: the cluster speaks the highest version of the common range.
func TestCommon(t *testing.T) {
	for _, tc := range []struct {
		name   string
		rs     []Range
		common string // "" when there is none
	}{
		{"no members", nil, ""},
		{"one new node", []Range{{1, 2}}, "1..2"},
		{"old and new", []Range{{1, 1}, {1, 2}, {1, 2}}, "1"},
		{"all new", []Range{{1, 2}, {1, 2}}, "1..2"},
		{"newer build dropped 1", []Range{{2, 3}, {1, 2}}, "2"},
		{"disjoint", []Range{{1, 1}, {2, 3}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, ok := Common(tc.rs)
			if got := c.String(); ok != (tc.common != "") || (ok && got != tc.common) {
				t.Errorf("Common(%v) = %s, %v; want %q", tc.rs, got, ok, tc.common)
			}
		})
	}
}

func TestRange(t *testing.T) {
	if r := Supported(); !r.Valid() || r.Min != Min || r.Max != Max {
		t.Errorf("Supported() = %v, want valid %d..%d", r, Min, Max)
	}
	for _, tc := range []struct {
		a, b    Range
		overlap bool
	}{
		{Range{1, 1}, Range{1, 2}, true},
		{Range{1, 1}, Range{2, 2}, false},
		{Range{3, 4}, Range{1, 2}, false},
		{Range{2, 4}, Range{1, 2}, true},
	} {
		if got := tc.a.Overlaps(tc.b); got != tc.overlap {
			t.Errorf("%v.Overlaps(%v) = %v, want %v", tc.a, tc.b, got, tc.overlap)
		}
	}
	for _, r := range []Range{{0, 1}, {2, 1}, {1, 256}} {
		if r.Valid() {
			t.Errorf("%v.Valid() = true, want false", r)
		}
	}
}
