package version

import "testing"

func TestCluster(t *testing.T) {
	for _, tc := range []struct {
		name   string
		rs     []Range
		want   int
		common string // "" when there is none
	}{
		{"no members", nil, V1, ""},
		{"one new node", []Range{{1, 2}}, 2, "1..2"},
		{"old and new", []Range{{1, 1}, {1, 2}, {1, 2}}, 1, "1"},
		{"all new", []Range{{1, 2}, {1, 2}}, 2, "1..2"},
		{"newer build dropped 1", []Range{{2, 3}, {1, 2}}, 2, "2"},
		{"disjoint", []Range{{1, 1}, {2, 3}}, V1, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Cluster(tc.rs); got != tc.want {
				t.Errorf("Cluster(%v) = %d, want %d", tc.rs, got, tc.want)
			}
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
