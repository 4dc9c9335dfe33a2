package lease

import "time"

// Duration is how long a granted read lease lasts; owners renew every
// Renew. Detection of a dead node takes longer than Duration with the
// default gossip timing, so a crash costs no extra wait.
const (
	Duration = time.Second
	Renew    = Duration / 4
	Margin   = Duration / 10
)

// Held is a lease an owner holds from one replica.
type Held struct {
	ViewID uint64
	Until  time.Time
}

// Hold is the lease an owner holds for view viewID once the replica
// granted the request it sent at sent.
func Hold(viewID uint64, sent time.Time) Held {
	return Held{ViewID: viewID, Until: sent.Add(Duration - Margin)}
}

// Valid reports whether h lets its holder serve reads under view viewID at
// now: same view, and not yet at its end.
func (h Held) Valid(viewID uint64, now time.Time) bool {
	return h.ViewID == viewID && now.Before(h.Until)
}

// Grant is when a lease the replica grants at now ends on its side: a
// promoted replica waits until then before acting as owner.
func Grant(now time.Time) time.Time { return now.Add(Duration) }

// MayServe reports whether an owner may act as owner at now: any lease it
// granted the previous owner has run out (blockUntil), and it holds a valid
// lease for viewID from its replica, if the partition has one.
func MayServe(now, blockUntil time.Time, hasReplica bool, h Held, viewID uint64) bool {
	return !now.Before(blockUntil) && (!hasReplica || h.Valid(viewID, now))
}
