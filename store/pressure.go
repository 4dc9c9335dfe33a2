package store

import (
	"time"

	"github.com/e5b1d45c/sessring/store/internal/admit"
)

// relieve ends the least recently used unprotected sessions this node owns
// while it holds more than admit.High percent of MaxBytes, down to
// admit.Low (EvictUnprotected).
func (n *Node) relieve(v *view, now time.Time) {
	limit := n.cfg.MaxBytes
	if !admit.Pressed(n.used.Load(), limit) {
		return
	}
	cands := n.evictables(v, now.UnixNano())
	evicted := 0
	for _, c := range cands {
		if admit.Relieved(n.used.Load(), limit) {
			break
		}
		if n.end(v, c.P, c.Token, func(cur *entry, now int64) bool { return cur.live(now) && !n.protected(cur) }) {
			evicted++
		}
	}
	if evicted > 0 {
		n.stats.evicted.Add(uint64(evicted))
		n.log.Warn("memory pressure: ended the least recently used sessions without "+n.cfg.ProtectField,
			"evicted", evicted, "bytes_held", n.used.Load(), "max_bytes", limit)
	}
}

// evictables lists the live sessions this node owns that are not
// protected, least recently used first. Passivated ones are left alone:
// they are small and safe in the backup.
func (n *Node) evictables(v *view, now int64) []admit.Candidate {
	var out []admit.Candidate
	for p, part := range n.parts {
		if v.table.Owner(p) != n.name || !part.isReady() {
			continue
		}
		for _, te := range part.snapshot() {
			if e := te.e; e.live(now) && !e.stub && !n.protected(e) {
				out = append(out, admit.Candidate{P: p, Token: te.token, Access: e.access})
			}
		}
	}
	admit.Oldest(out)
	return out
}

// protected reports whether e carries ProtectField.
func (n *Node) protected(e *entry) bool {
	_, ok := e.fields[n.cfg.ProtectField]
	return ok
}
