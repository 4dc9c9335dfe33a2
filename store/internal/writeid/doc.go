// Package writeid holds the rules that make a session write take effect at
// most once: write ids, the history of recent ids each session version
// carries, and the verdict on a write that may be a retry.
//
// # Why
//
// A write whose reply is lost may or may not have been applied, and the
// router retries it, often at a new owner. Applying it twice is wrong when
// other writes came in between: the retry would put back a value a later,
// acknowledged write replaced. So every write carries an ID fixed for all
// its attempts, each version remembers the ids of the writes that made it
// and its recent predecessors (Append), and the owner checks a write
// against that history before applying it (Check).
//
// # Time
//
// Times are unix nanoseconds of the owner's clock, passed in as now; the
// package reads no clock. A history keeps records younger than Memory, at
// most MaxRecords; a retry later than RetryWindow after its first attempt
// is refused, since its record may already be gone.
package writeid
