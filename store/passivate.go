package store

import (
	"slices"

	"github.com/e5b1d45c/sessring/store/internal/admit"
)

// Passivation: a node over MaxBytes drops the bodies of its least recently
// used sessions whose exact version is already in the backup, keeping a stub
// (version, deadlines, access time) so versions, digests and merges behave
// as before. A stub is loaded back from the backup when it is next used. A
// copy qualifies when this node knows its version is stored: the owner's
// copies once its write-behind or write-through put succeeded, a replica's
// copies in write-through mode (the owner writes the backup first).

// passivate frees at least need bytes by stubbing backed-up sessions. It
// reports whether enough was freed.
func (n *Node) passivate(need int64) bool {
	if n.backup == nil {
		return false
	}
	type cand struct {
		p     int
		token string
		e     *entry
	}
	var cands []cand
	for p, part := range n.parts {
		for _, te := range part.snapshot() {
			if te.e.backed.Load() && !te.e.stub && !te.e.deleted {
				cands = append(cands, cand{p, te.token, te.e})
			}
		}
	}
	slices.SortFunc(cands, func(a, b cand) int { return int(a.e.access - b.e.access) })
	target := admit.Target(need, n.cfg.MaxBytes) // beyond need: no scan on every write
	var freed int64
	for _, c := range cands {
		if freed >= target {
			break
		}
		stub := c.e.clone()
		stub.stub, stub.value, stub.fields = true, nil, nil
		stub.computeSize(c.token)
		if n.parts[c.p].install(c.token, c.e, stub, &n.used) {
			freed += int64(c.e.size - stub.size)
			n.backup.passivated.Add(1)
		}
	}
	return freed >= need
}
