package store

import (
	"fmt"
	"sync/atomic"
	"testing"
)

// TestPartitionItemsSmallAndLarge drives a partition across the size where
// its entries move from the small slice to a map and back to empty, and
// checks lookups, replacement, removal, the counts, the digest and the
// snapshot against a plain map at every step.
func TestPartitionItemsSmallAndLarge(t *testing.T) {
	p := newPartition(0)
	var used atomic.Int64
	want := map[string]*entry{}
	check := func(step string) {
		t.Helper()
		items, bytes, digest := p.stats()
		var wantBytes int64
		var wantDigest uint64
		for tok, e := range want {
			if got := p.get(tok); got != e {
				t.Fatalf("%s: get(%s) = %p, want %p", step, tok, got, e)
			}
			wantBytes += int64(e.size)
			wantDigest ^= itemHash(tok, e.version)
		}
		if items != len(want) || bytes != wantBytes || digest != wantDigest || used.Load() != wantBytes {
			t.Fatalf("%s: stats = %d items, %d bytes, digest %x (used %d); want %d, %d, %x",
				step, items, bytes, digest, used.Load(), len(want), wantBytes, wantDigest)
		}
		snap := p.snapshot()
		if len(snap) != len(want) {
			t.Fatalf("%s: snapshot has %d entries, want %d", step, len(snap), len(want))
		}
		for _, te := range snap {
			if want[te.token] != te.e {
				t.Fatalf("%s: snapshot has %s -> %p, want %p", step, te.token, te.e, want[te.token])
			}
		}
		if p.get("absent") != nil {
			t.Fatalf("%s: get(absent) found an entry", step)
		}
	}
	mk := func(tok string, version uint64) *entry {
		e := &entry{kind: KindBytes, version: version, value: []byte(tok)}
		e.computeSize(tok)
		return e
	}
	for i := range 3 * smallItems {
		tok := fmt.Sprintf("tok-%02d", i)
		e := mk(tok, 1)
		if cur, taken := p.merge(tok, e, &used); !taken || cur != e {
			t.Fatalf("merge(%s) = %p, %v; want the new entry taken", tok, cur, taken)
		}
		want[tok] = e
		check(fmt.Sprintf("after adding %d", i+1))
		// Replace an earlier one: the slot is reused, not duplicated.
		old := fmt.Sprintf("tok-%02d", i/2)
		next := mk(old, want[old].version+1)
		if !p.install(old, want[old], next, &used) {
			t.Fatalf("install(%s) refused the current entry", old)
		}
		want[old] = next
		check(fmt.Sprintf("after replacing %s", old))
	}
	for i := range 3 * smallItems {
		tok := fmt.Sprintf("tok-%02d", i)
		p.remove(tok, want[tok], &used)
		delete(want, tok)
		check(fmt.Sprintf("after removing %s", tok))
	}
	p.merge("again", mk("again", 1), &used)
	p.clear(&used)
	want = map[string]*entry{}
	check("after clear")
}
