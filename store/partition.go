package store

import (
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/e5b1d45c/sessring/internal/stablehash"
)

// partition holds this node's copy of one placement partition.
type partition struct {
	id int

	// wmu serializes owner-side writes of this partition, so each session's
	// versions form one chain: read current, build next, replicate, install.
	// Replica-side accepts do not take it (two nodes that briefly both think
	// they own p must not deadlock each other); install's compare step
	// catches that race instead.
	wmu sync.Mutex

	// mu guards the fields below.
	mu     sync.RWMutex
	items  itemSet
	bytes  int64
	digest uint64 // XOR of itemHash over items, for anti-entropy
	// nextDue is at most the earliest time an entry here needs the expiry
	// sweep (dueAt); MaxInt64 for none. Lowered under mu's write lock as
	// entries go in, recomputed by due's scan (under the read lock: due is
	// the one scanner, and writers are excluded), so a sweep skips a
	// partition without touching its entries until then.
	nextDue atomic.Int64
	// ready is true when this node holds a complete copy for its current
	// role; false while a pull is pending.
	ready bool
	// demoted is set when this node stops owning the partition; the next
	// lease grant to the new owner carries the partition's sessions. Atomic:
	// every lease grant checks it for every partition.
	demoted atomic.Bool
	// blockUntil: as new owner, do not serve before the read lease granted
	// to the previous owner has run out.
	blockUntil time.Time
	// resync: why the partition is being re-pulled although it was held
	// (resync.go); cleared when ready. held: it was complete here when
	// that happened, so lost previous holders do not strand it.
	resync resyncKind
	held   bool
	// gen counts the times the partition was made not ready; a pull round
	// marks it ready only if gen has not moved since the round began.
	gen uint64
}

// resyncKind says where a resynced partition is pulled from and how.
type resyncKind uint8

const (
	resyncNone resyncKind = iota
	// resyncHolder: this node was cut off; its current co-holder has every
	// write made meanwhile (resync.go). Equal digests are skipped.
	resyncHolder
	// resyncAll: members came back from a split brain; every member may
	// have writes, and equal versions may differ, so everything is sent.
	resyncAll
)

func newPartition(id int) *partition {
	p := &partition{id: id}
	p.nextDue.Store(math.MaxInt64)
	return p
}

// itemHash mixes a token and version into the partition digest.
func itemHash(token string, version uint64) uint64 {
	return stablehash.Mix(stablehash.String(token) ^ (version * 0x9E3779B97F4A7C15))
}

func (p *partition) get(token string) *entry {
	p.mu.RLock()
	e := p.items.get(token)
	p.mu.RUnlock()
	return e
}

// readState returns what a read needs under one lock acquisition.
func (p *partition) readState(token string) (e *entry, ready bool, blockUntil time.Time) {
	p.mu.RLock()
	e, ready, blockUntil = p.items.get(token), p.ready, p.blockUntil
	p.mu.RUnlock()
	return e, ready, blockUntil
}

func (p *partition) isReady() bool {
	p.mu.RLock()
	r := p.ready
	p.mu.RUnlock()
	return r
}

func (p *partition) blockedUntil() time.Time {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.blockUntil
}

// takeDemoted reports and clears the demoted flag.
func (p *partition) takeDemoted() bool {
	return p.demoted.Load() && p.demoted.Swap(false)
}

func (p *partition) setRoleChange(demoted bool, blockUntil time.Time) {
	if demoted {
		p.demoted.Store(true)
	}
	p.mu.Lock()
	if blockUntil.After(p.blockUntil) {
		p.blockUntil = blockUntil
	}
	p.mu.Unlock()
}

// setReady(false) starts an ordinary pull (a newly held partition): any
// earlier resync state no longer applies.
func (p *partition) setReady(r bool) {
	p.mu.Lock()
	p.ready = r
	p.resync, p.held = resyncNone, false
	if !r {
		p.gen++
	}
	p.mu.Unlock()
}

// generation returns gen (see partition.gen).
func (p *partition) generation() uint64 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.gen
}

// setReadyAt marks the partition ready if it was not made not ready again
// since generation gen.
func (p *partition) setReadyAt(gen uint64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gen != gen {
		return false
	}
	p.ready, p.resync, p.held = true, resyncNone, false
	return true
}

// setResync makes the partition not ready, to be re-pulled from the
// sources k names (pullSources): the co-holder, or every member.
func (p *partition) setResync(k resyncKind) {
	p.mu.Lock()
	p.held = p.held || p.ready
	p.ready = false
	p.resync = max(p.resync, k)
	p.gen++
	p.mu.Unlock()
}

func (p *partition) needsFullPull() bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.resync == resyncAll
}

// mayCompleteWithout reports whether p may be declared complete although no
// source holds it completely: it was complete here already (a resync), or
// no previous holder is lost (those that had it left gracefully, or were
// given up on after LostMemberTTL).
func (p *partition) mayCompleteWithout(v *view) bool {
	p.mu.RLock()
	held := p.held
	p.mu.RUnlock()
	return held || !v.lostHolder(p.id)
}

// pullSources is where a not-ready partition is pulled from: its previous
// holders (v.sources), or every member after a resync.
func (p *partition) pullSources(v *view) (srcs []string, stranded bool) {
	p.mu.RLock()
	kind, held := p.resync, p.held
	p.mu.RUnlock()
	srcs, stranded = v.sources(p.id)
	switch kind {
	case resyncHolder:
		co := ""
		if o, r := v.table.Holders(p.id); o != v.self {
			co = o
		} else {
			co = r
		}
		if held {
			srcs = srcs[:0] // complete here: the co-holder has what was missed
		}
		if co != "" && !slices.Contains(srcs, co) {
			srcs = append(srcs, co)
		}
	case resyncAll:
		srcs = v.wideSources()
	}
	if kind != resyncNone {
		stranded = stranded && !held
	}
	return srcs, stranded
}

// swapLocked replaces the entry for token (nil removes it) and keeps the
// byte count and digest in step. It returns the change in bytes.
func (p *partition) swapLocked(token string, old, e *entry) int64 {
	var delta int64
	if old != nil {
		p.digest ^= itemHash(token, old.version)
		delta -= int64(old.size)
	}
	if e == nil {
		p.items.del(token)
	} else {
		p.items.set(token, e)
		p.digest ^= itemHash(token, e.version)
		delta += int64(e.size)
		p.noteDue(e)
	}
	p.bytes += delta
	return delta
}

// install stores e if the current entry is still expect (compare-and-swap).
func (p *partition) install(token string, expect, e *entry, used *atomic.Int64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	cur := p.items.get(token)
	if cur != expect {
		return false
	}
	used.Add(p.swapLocked(token, cur, e))
	return true
}

// merge stores e if it is newer than the current entry. It returns the entry
// that is current afterwards and whether e was taken.
func (p *partition) merge(token string, e *entry, used *atomic.Int64) (*entry, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	cur := p.items.get(token)
	if !newer(e, cur) {
		if cur != nil && e.version == cur.version && e.access > cur.access {
			touched := cur.clone()
			touched.access = e.access
			p.items.set(token, touched)
			p.noteDue(touched)
			return touched, false
		}
		return cur, false
	}
	used.Add(p.swapLocked(token, cur, e))
	return e, true
}

// remove drops token if its entry is still expect.
func (p *partition) remove(token string, expect *entry, used *atomic.Int64) {
	p.mu.Lock()
	if cur := p.items.get(token); cur != nil && cur == expect {
		used.Add(p.swapLocked(token, cur, nil))
	}
	p.mu.Unlock()
}

// clear drops every entry (the partition moved away from this node).
func (p *partition) clear(used *atomic.Int64) {
	p.mu.Lock()
	used.Add(-p.bytes)
	p.items = itemSet{}
	p.nextDue.Store(math.MaxInt64)
	p.bytes, p.digest = 0, 0
	p.ready, p.resync, p.held = false, resyncNone, false
	p.gen++
	p.mu.Unlock()
}

type tokenEntry struct {
	token string
	e     *entry
}

// snapshot returns the partition's entries (shared, immutable).
func (p *partition) snapshot() []tokenEntry {
	p.mu.RLock()
	out := make([]tokenEntry, 0, p.items.len())
	if p.items.m == nil {
		out = append(out, p.items.small...)
	}
	for t, e := range p.items.m {
		out = append(out, tokenEntry{t, e})
	}
	p.mu.RUnlock()
	return out
}

// due returns the entries the expiry sweep has to look at (sweepEntry): a
// tombstone past its time, or a session no longer live at now. The sweep
// visits every copy every SweepInterval; scanning under the read lock and
// copying only these keeps that from allocating and copying the whole
// partition each second (with a million copies per node, the copy was a
// third of a join's CPU).
//
// A partition whose nextDue lies after now is skipped without touching its
// entries: with a million copies per node, visiting each entry (a cache miss
// apiece) took most of a second of CPU per second.
func (p *partition) due(now int64) []tokenEntry {
	if now < p.nextDue.Load() {
		return nil
	}
	var out []tokenEntry
	next := int64(math.MaxInt64)
	check := func(token string, e *entry) {
		at := dueAt(e)
		next = min(next, at)
		if at <= now {
			out = append(out, tokenEntry{token, e})
		}
	}
	p.mu.RLock()
	if p.items.m == nil {
		for _, te := range p.items.small {
			check(te.token, te.e)
		}
	}
	for t, e := range p.items.m {
		check(t, e)
	}
	// No writer runs meanwhile (they hold mu), and due is the only scanner:
	// next is exact for the entries now held. Those returned still count,
	// so one the sweep leaves (a replica's copy within its grace) brings
	// the sweep back.
	p.nextDue.Store(next)
	p.mu.RUnlock()
	return out
}

// dueAt is when the sweep has to act on e: a tombstone at its expiry, a
// session at its deadline; MaxInt64 for never.
func dueAt(e *entry) int64 {
	if e.deleted {
		return e.expiry
	}
	if d := e.deadline(); d != 0 {
		return d
	}
	return math.MaxInt64
}

// noteDue lowers nextDue to e's dueAt; the caller holds mu's write lock.
func (p *partition) noteDue(e *entry) {
	if at := dueAt(e); at < p.nextDue.Load() {
		p.nextDue.Store(at)
	}
}

func (p *partition) stats() (items int, bytes int64, digest uint64) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.items.len(), p.bytes, p.digest
}

// itemSet maps tokens to entries. Most partitions hold a handful of
// sessions (16384 partitions: 100,000 sessions put about six copies in each
// held partition), and a Go map of even one entry costs a 208 B group of
// eight slots, more than the entry itself; so up to smallItems entries are
// kept in a slice (24 B each, scanned), and a map takes over beyond that.
type itemSet struct {
	small []tokenEntry // while m is nil
	m     map[string]*entry
}

const smallItems = 16

func (s *itemSet) len() int {
	if s.m != nil {
		return len(s.m)
	}
	return len(s.small)
}

func (s *itemSet) get(token string) *entry {
	if s.m != nil {
		return s.m[token]
	}
	for i := range s.small {
		if s.small[i].token == token {
			return s.small[i].e
		}
	}
	return nil
}

func (s *itemSet) set(token string, e *entry) {
	if s.m != nil {
		s.m[token] = e
		return
	}
	for i := range s.small {
		if s.small[i].token == token {
			s.small[i].e = e
			return
		}
	}
	if len(s.small) < smallItems {
		s.small = append(s.small, tokenEntry{token, e})
		return
	}
	s.m = make(map[string]*entry, smallItems+1)
	for _, te := range s.small {
		s.m[te.token] = te.e
	}
	s.m[token] = e
	s.small = nil
}

func (s *itemSet) del(token string) {
	if s.m != nil {
		delete(s.m, token)
		return
	}
	for i := range s.small {
		if s.small[i].token == token {
			last := len(s.small) - 1
			s.small[i] = s.small[last]
			s.small[last] = tokenEntry{} // drop the references
			s.small = s.small[:last]
			return
		}
	}
}
