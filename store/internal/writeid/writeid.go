package writeid

import "time"

const (
	// Memory is how long a version remembers the writes that led to it:
	// longer than a failover takes (a few seconds), short enough that a
	// session's history stays small.
	Memory = 10 * time.Second
	// RetryWindow bounds how long after its first attempt a write may be
	// retried, inside Memory, whatever the caller's deadline.
	RetryWindow = 8 * time.Second
	// MaxRecords caps the history of a session written several times a
	// second; dropping a record younger than Memory is noted in the cut.
	MaxRecords = 16
)

// ID names one client write across all its attempts: the incarnation of the
// node that took the call and a sequence number local to it. The zero ID
// names no write.
type ID struct {
	Node uint64
	Seq  uint64
}

// Valid reports whether id names a write.
func (id ID) Valid() bool { return id != ID{} }

// Record is one remembered write: its id and when the owner applied it.
type Record struct {
	ID ID
	At int64 // unix nanoseconds, owner clock
}

// Applied reports whether ops holds id. The zero ID is never applied.
func Applied(ops []Record, id ID) bool {
	if !id.Valid() {
		return false
	}
	for _, r := range ops {
		if r.ID == id {
			return true
		}
	}
	return false
}

// Append returns the history of a new version made by write id at now from
// a version with history ops and cut (the newest record dropped early; 0:
// none): the records younger than Memory plus id, at most MaxRecords. A
// version made without an id (expiry, eviction) keeps ops and cut as they
// are. ops is not modified.
func Append(ops []Record, cut int64, id ID, now int64) ([]Record, int64) {
	if !id.Valid() {
		return ops, cut
	}
	memory := int64(Memory)
	start := 0
	for start < len(ops) && ops[start].At <= now-memory {
		start++
	}
	if drop := len(ops) - start + 1 - MaxRecords; drop > 0 {
		for _, r := range ops[start : start+drop] {
			cut = max(cut, r.At)
		}
		start += drop
	}
	keep := make([]Record, 0, min(len(ops)+1, MaxRecords))
	keep = append(keep, ops[start:]...)
	keep = append(keep, Record{ID: id, At: now})
	if cut <= now-memory {
		cut = 0
	}
	return keep, cut
}

// Verdict is what the owner does with a write, given the history.
type Verdict int

const (
	// Apply: the write is not in the history; apply it.
	Apply Verdict = iota
	// Done: an earlier attempt made this version or a predecessor;
	// report success without applying it again.
	Done
	// TooLate: a retry past RetryWindow; its record may be pruned, so
	// neither apply it nor report it done.
	TooLate
	// Forgotten: more writes came in since the first attempt than the
	// history holds; neither apply it nor report it done.
	Forgotten
)

// Check decides write id against a version's history (ops, cut). exists is
// false when there is no version at all. retry says an earlier attempt may
// have been applied; age is how long before now the first attempt started.
func Check(ops []Record, cut int64, exists bool, id ID, retry bool, age time.Duration, now int64) Verdict {
	switch {
	case !id.Valid() || !exists:
		return Apply
	case Applied(ops, id):
		return Done
	case retry && age > RetryWindow:
		return TooLate
	case retry && cut > now-int64(Memory):
		return Forgotten
	}
	return Apply
}
