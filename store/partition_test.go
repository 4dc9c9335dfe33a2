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

// TestPartitionDue checks that the sweep is handed exactly the entries it
// acts on: tombstones past their time and sessions no longer live, in the
// small form of a partition and in the map form.
func TestPartitionDue(t *testing.T) {
	now := int64(1_000_000_000)
	for _, filler := range []int{0, 2 * smallItems} {
		p := newPartition(0)
		var used atomic.Int64
		add := func(tok string, e *entry) {
			e.kind = KindBytes
			e.version = 1
			e.computeSize(tok)
			p.merge(tok, e, &used)
		}
		for i := range filler {
			add(fmt.Sprintf("live-%d", i), &entry{expiry: now + 1})
		}
		add("live", &entry{expiry: now + 1})
		add("forever", &entry{})
		add("expired", &entry{expiry: now})
		add("idle-out", &entry{idle: 10, access: now - 10})
		add("idle-in", &entry{idle: 10, access: now - 9})
		add("tomb-due", &entry{deleted: true, expiry: now})
		add("tomb-kept", &entry{deleted: true, expiry: now + 1})
		got := map[string]bool{}
		for _, te := range p.due(now) {
			got[te.token] = true
		}
		want := map[string]bool{"expired": true, "idle-out": true, "tomb-due": true}
		if len(got) != len(want) {
			t.Errorf("%d more entries: due = %v, want %v", filler, got, want)
		}
		for tok := range want {
			if !got[tok] {
				t.Errorf("%d more entries: due lacks %s (got %v)", filler, tok, got)
			}
		}
		// What the sweep left is handed over again; an earlier time finds
		// nothing due; an entry installed already due is found at once.
		if again := p.due(now); len(again) != len(want) {
			t.Errorf("%d more entries: a second due(now) = %d entries, want %d", filler, len(again), len(want))
		}
		if early := p.due(now - 100); len(early) != 0 {
			t.Errorf("%d more entries: due(before anything expires) = %v", filler, early)
		}
		for _, te := range p.due(now) {
			p.remove(te.token, te.e, &used)
		}
		if left := p.due(now); len(left) != 0 {
			t.Errorf("%d more entries: due after removing the due ones = %v", filler, left)
		}
		add("late", &entry{expiry: now - 5})
		if late := p.due(now); len(late) != 1 || late[0].token != "late" {
			t.Errorf("%d more entries: due after installing an expired entry = %v, want just late", filler, late)
		}
	}
}
