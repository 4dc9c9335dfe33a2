package admit

import (
	"cmp"
	"slices"
)

// Memory-pressure watermarks of eviction, in percent of the byte budget:
// eviction starts above High and stops at Low, so a node under a steady
// flood evicts in batches and keeps room for new writes.
const (
	High = 90
	Low  = 80
)

// Slack is the share of the byte budget passivation frees beyond what was
// asked.
const Slack = 0.05

// Body is the size a session's body counts against the per-session limit:
// its value plus the names and values of its fields.
func Body(value []byte, fields map[string][]byte) int {
	n := len(value)
	for k, v := range fields {
		n += len(k) + len(v)
	}
	return n
}

// Need is how many bytes must be freed before a node holding used bytes
// of a budget of limit can grow by grow: 0 when it fits (or shrinks).
func Need(used, grow, limit int64) int64 {
	if grow <= 0 || used+grow <= limit {
		return 0
	}
	return used + grow - limit
}

// Target is how many bytes passivation aims to free to meet need under a
// budget of limit.
func Target(need, limit int64) int64 {
	return need + int64(Slack*float64(limit))
}

// Pressed reports whether eviction should start: used is above High
// percent of limit.
func Pressed(used, limit int64) bool { return used*100 > limit*High }

// Relieved reports whether eviction may stop: used is at or below Low
// percent of limit.
func Relieved(used, limit int64) bool { return used*100 <= limit*Low }

// Candidate is a session eviction may end.
type Candidate struct {
	P      int    // its partition
	Token  string // its token
	Access int64  // its last access, unix nanoseconds
}

// Oldest sorts cands least recently used first.
func Oldest(cands []Candidate) {
	slices.SortFunc(cands, func(a, b Candidate) int { return cmp.Compare(a.Access, b.Access) })
}
