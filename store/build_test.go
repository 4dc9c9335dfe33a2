package store

import (
	"errors"
	"testing"
	"time"
)

// TestNextEntry checks the building of the next version case by case: a
// pure function of the current entry, the write and the time.
func TestNextEntry(t *testing.T) {
	const now = int64(1_000_000) * int64(time.Second)
	const ttl = 10 * time.Minute
	held := func(_ string, id uint64) error {
		if id != 42 {
			return ErrLeaseLost
		}
		return nil
	}
	rules := writeRules{tombstoneTTL: ttl, checkLease: held}
	bytesV := func(v string, version uint64) *entry {
		return &entry{kind: KindBytes, value: []byte(v), version: version, access: now - 1}
	}
	fieldsV := func(version uint64, kv ...string) *entry {
		e := &entry{kind: KindFields, version: version, access: now - 1, fields: map[string][]byte{}}
		for i := 0; i+1 < len(kv); i += 2 {
			e.fields[kv[i]] = []byte(kv[i+1])
		}
		return e
	}
	expired := &entry{kind: KindBytes, value: []byte("old"), version: 7, expiry: now}
	set := func(kv ...string) map[string][]byte {
		m := map[string][]byte{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = []byte(kv[i+1])
		}
		return m
	}
	id := opID{Node: 1, Seq: 9}
	applied := fieldsV(3, "k", "v")
	applied.ops = []opRecord{{ID: id, At: now - 1}}

	type want struct {
		none    bool // nil next
		dup     bool
		err     error
		version uint64
		deleted bool
		value   string
		fields  map[string]string
		access  int64
		expiry  int64 // checked when non-zero
	}
	for _, tc := range []struct {
		name string
		cur  *entry
		op   writeOp
		want want
	}{
		{"commit creates version 1", nil, writeOp{kind: opCommit, value: []byte("a")},
			want{version: 1, value: "a", access: now}},
		{"commit replaces", bytesV("a", 4), writeOp{kind: opCommit, value: []byte("b")},
			want{version: 5, value: "b", access: now}},
		{"commit of the same bytes changes nothing", bytesV("a", 4), writeOp{kind: opCommit, value: []byte("a")},
			want{none: true}},
		{"commit expiring exactly now deletes", bytesV("a", 4), writeOp{kind: opCommit, value: []byte("a"), expiry: now},
			want{version: 5, deleted: true, access: now, expiry: now + int64(maxTombstoneLife)}},
		{"commit of a past expiry on nothing is nothing", nil, writeOp{kind: opCommit, value: []byte("a"), expiry: now - 1},
			want{none: true}},
		{"an expired session is replaced, versions go on", expired, writeOp{kind: opCommit, value: []byte("b")},
			want{version: 8, value: "b", access: now}},
		{"delete of a session without deadline: remembered maxTombstoneLife", bytesV("a", 4), writeOp{kind: opDelete},
			want{version: 5, deleted: true, access: now, expiry: now + int64(maxTombstoneLife)}},
		{"delete of a session ending soon: remembered TombstoneTTL", &entry{kind: KindBytes, version: 4, expiry: now + 1}, writeOp{kind: opDelete},
			want{version: 5, deleted: true, access: now, expiry: now + int64(ttl)}},
		{"delete of a session ending late: remembered until its end", &entry{kind: KindBytes, version: 4, expiry: now + int64(time.Hour)}, writeOp{kind: opDelete},
			want{version: 5, deleted: true, access: now, expiry: now + int64(time.Hour)}},
		{"delete of nothing is nothing", nil, writeOp{kind: opDelete}, want{none: true}},
		{"delete of an expired session is nothing", expired, writeOp{kind: opDelete}, want{none: true}},
		{"apply sets a field", fieldsV(2, "a", "1"), writeOp{kind: opApply, mut: Mutation{Set: set("b", "2")}},
			want{version: 3, fields: map[string]string{"a": "1", "b": "2"}, access: now}},
		{"apply of the same value changes nothing", fieldsV(2, "a", "1"), writeOp{kind: opApply, mut: Mutation{Set: set("a", "1")}},
			want{none: true}},
		{"apply deletes and clears", fieldsV(2, "a", "1", "b", "2"), writeOp{kind: opApply, mut: Mutation{Delete: []string{"a"}}},
			want{version: 3, fields: map[string]string{"b": "2"}, access: now}},
		{"touch keeps the version, moves access", fieldsV(2, "a", "1"), writeOp{kind: opApply, mut: Mutation{Touch: true}},
			want{version: 2, fields: map[string]string{"a": "1"}, access: now}},
		{"touching nothing creates nothing", nil, writeOp{kind: opApply, mut: Mutation{Touch: true}}, want{none: true}},
		{"create on nothing", nil, writeOp{kind: opApply, mut: Mutation{Create: true}},
			want{version: 1, fields: map[string]string{}, access: now}},
		{"create on a session", fieldsV(2), writeOp{kind: opApply, mut: Mutation{Create: true}}, want{err: ErrConflict}},
		{"create on an expired session", &entry{kind: KindFields, version: 5, expiry: now}, writeOp{kind: opApply, mut: Mutation{Create: true}},
			want{version: 6, fields: map[string]string{}, access: now}},
		{"if-exists on nothing", nil, writeOp{kind: opApply, mut: Mutation{IfExists: true, Set: set("a", "1")}}, want{err: ErrNotFound}},
		{"if-version matches", fieldsV(2), writeOp{kind: opApply, mut: Mutation{IfVersion: 2, Set: set("a", "1")}},
			want{version: 3, fields: map[string]string{"a": "1"}, access: now}},
		{"if-version differs", fieldsV(2), writeOp{kind: opApply, mut: Mutation{IfVersion: 3, Set: set("a", "1")}}, want{err: ErrConflict}},
		{"apply on bytes", bytesV("a", 2), writeOp{kind: opApply, mut: Mutation{Set: set("a", "1")}}, want{err: ErrKindMismatch}},
		{"held lease", fieldsV(2), writeOp{kind: opApply, mut: Mutation{Lease: 42, Set: set("a", "1")}},
			want{version: 3, fields: map[string]string{"a": "1"}, access: now}},
		{"lost lease", fieldsV(2), writeOp{kind: opApply, mut: Mutation{Lease: 41, Set: set("a", "1")}}, want{err: ErrLeaseLost}},
		{"conflict is reported before the lease", fieldsV(2), writeOp{kind: opApply, mut: Mutation{Lease: 41, IfVersion: 9}}, want{err: ErrConflict}},
		{"a write already applied is a duplicate", applied, writeOp{kind: opApply, id: id, retry: true, mut: Mutation{Set: set("k", "w")}},
			want{none: true, dup: true}},
		{"a retry past the window is uncertain", fieldsV(2), writeOp{kind: opApply, id: opID{Node: 1, Seq: 10}, retry: true, age: opRetryWindow + 1, mut: Mutation{Set: set("k", "w")}},
			want{err: ErrUncertain}},
		{"unknown op", nil, writeOp{kind: 99}, want{err: errors.New("")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next, dup, err := nextEntry("tok", tc.cur, &tc.op, now, rules)
			w := tc.want
			switch {
			case w.err != nil && err == nil, w.err == nil && err != nil:
				t.Fatalf("nextEntry = %+v, %v; want error %v", next, err, w.err)
			case w.err != nil && w.err.Error() != "" && !errors.Is(err, w.err):
				t.Fatalf("nextEntry error = %v, want %v", err, w.err)
			}
			if dup != w.dup {
				t.Fatalf("nextEntry dup = %v, want %v", dup, w.dup)
			}
			if (next == nil) != (w.none || w.err != nil) {
				t.Fatalf("nextEntry = %+v, want nil: %v", next, w.none || w.err != nil)
			}
			if next == nil {
				return
			}
			if next.version != w.version || next.deleted != w.deleted || string(next.value) != w.value || next.access != w.access {
				t.Fatalf("nextEntry = version %d deleted %v value %q access %d; want %d %v %q %d",
					next.version, next.deleted, next.value, next.access, w.version, w.deleted, w.value, w.access)
			}
			if w.expiry != 0 && next.expiry != w.expiry {
				t.Fatalf("nextEntry expiry = %d, want %d", next.expiry, w.expiry)
			}
			if w.fields != nil {
				if len(next.fields) != len(w.fields) {
					t.Fatalf("nextEntry fields = %q, want %q", next.fields, w.fields)
				}
				for k, v := range w.fields {
					if string(next.fields[k]) != v {
						t.Fatalf("nextEntry fields = %q, want %q", next.fields, w.fields)
					}
				}
			}
			if next.size == 0 {
				t.Fatal("nextEntry left the size uncomputed")
			}
			if tc.cur != nil && next.version == tc.cur.version+1 && !next.applied(tc.op.id) && tc.op.id.Valid() {
				t.Fatalf("new version does not record write %v", tc.op.id)
			}
		})
	}
}

// TestNextEntryKeepsCurrent: building never changes the current entry,
// which readers use without a lock.
func TestNextEntryKeepsCurrent(t *testing.T) {
	cur := &entry{kind: KindFields, version: 2, fields: map[string][]byte{"a": []byte("1")}}
	op := writeOp{kind: opApply, mut: Mutation{Set: map[string][]byte{"a": []byte("2"), "b": []byte("3")}, Delete: []string{"a"}}}
	if _, _, err := nextEntry("tok", cur, &op, 1, writeRules{}); err != nil {
		t.Fatal(err)
	}
	if len(cur.fields) != 1 || string(cur.fields["a"]) != "1" || cur.version != 2 {
		t.Fatalf("current entry changed to version %d fields %q", cur.version, cur.fields)
	}
}
