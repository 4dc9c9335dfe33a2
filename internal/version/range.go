package version

import "fmt"

// Range is the inclusive span of protocol versions one node speaks.
type Range struct {
	Min, Max int
}

// Supported returns the range this build speaks, Min to Max.
func Supported() Range { return Range{Min, Max} }

// Valid reports whether r is a non-empty range of known-format versions
// (1 to 255: gossip metadata carries each bound in one byte).
func (r Range) Valid() bool { return 1 <= r.Min && r.Min <= r.Max && r.Max <= 255 }

// Overlaps reports whether r and o share a version.
func (r Range) Overlaps(o Range) bool { return r.Min <= o.Max && o.Min <= r.Max }

// Intersect returns the versions both r and o speak; ok is false when
// they share none.
func (r Range) Intersect(o Range) (Range, bool) {
	c := Range{max(r.Min, o.Min), min(r.Max, o.Max)}
	return c, c.Min <= c.Max
}

// String is "1" for a single version and "1..2" for a span.
func (r Range) String() string {
	if r.Min == r.Max {
		return fmt.Sprint(r.Min)
	}
	return fmt.Sprintf("%d..%d", r.Min, r.Max)
}

// Common returns the versions every range in rs speaks: the cluster's
// range when rs are its members' ranges. ok is false when rs is empty or
// the ranges share no version.
func Common(rs []Range) (c Range, ok bool) {
	if len(rs) == 0 {
		return Range{}, false
	}
	c, ok = rs[0], true
	for _, r := range rs[1:] {
		c, ok = c.Intersect(r)
		if !ok {
			return Range{}, false
		}
	}
	return c, true
}
