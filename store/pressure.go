package store

import (
	"cmp"
	"slices"
	"time"
)

// Memory-pressure watermarks of EvictUnprotected, in percent of MaxBytes:
// eviction starts above the high one and stops at the low one, so a node
// under a steady flood evicts in batches and keeps room for new writes.
const (
	pressureHigh = 90
	pressureLow  = 80
)

// evictable is a session relieve may end.
type evictable struct {
	p      int
	token  string
	access int64
}

// relieve ends the least recently used unprotected sessions this node owns
// while it holds more than pressureHigh percent of MaxBytes, down to
// pressureLow (EvictUnprotected).
func (n *Node) relieve(v *view, now time.Time) {
	limit := n.cfg.MaxBytes
	if n.used.Load()*100 <= limit*pressureHigh {
		return
	}
	cands := n.evictables(v, now.UnixNano())
	evicted := 0
	for _, c := range cands {
		if n.used.Load()*100 <= limit*pressureLow {
			break
		}
		if n.end(v, c.p, c.token, func(cur *entry, now int64) bool { return cur.live(now) && !n.protected(cur) }) {
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
func (n *Node) evictables(v *view, now int64) []evictable {
	var out []evictable
	for p, part := range n.parts {
		if v.table.Owner(p) != n.name || !part.isReady() {
			continue
		}
		for _, te := range part.snapshot() {
			if e := te.e; e.live(now) && !e.stub && !n.protected(e) {
				out = append(out, evictable{p, te.token, e.access})
			}
		}
	}
	slices.SortFunc(out, func(a, b evictable) int { return cmp.Compare(a.access, b.access) })
	return out
}

// protected reports whether e carries ProtectField.
func (n *Node) protected(e *entry) bool {
	_, ok := e.fields[n.cfg.ProtectField]
	return ok
}
