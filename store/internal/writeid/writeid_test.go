package writeid

import (
	"slices"
	"testing"
	"time"
)

const sec = int64(time.Second)

func id(i int) ID { return ID{Node: 7, Seq: uint64(i)} }

// history returns records of ids 1..n applied at at(i).
func history(n int, at func(i int) int64) []Record {
	var ops []Record
	for i := 1; i <= n; i++ {
		ops = append(ops, Record{ID: id(i), At: at(i)})
	}
	return ops
}

func TestAppend(t *testing.T) {
	now := 100 * sec
	mem := int64(Memory)
	for _, tc := range []struct {
		name    string
		ops     []Record
		cut     int64
		id      ID
		wantIDs []ID
		wantCut int64
	}{
		{"first write", nil, 0, id(1), []ID{id(1)}, 0},
		{"no id keeps the history", history(2, func(int) int64 { return now }), 5, ID{}, []ID{id(1), id(2)}, 5},
		{"no id and no history", nil, 0, ID{}, nil, 0},
		{"appends after recent records", history(2, func(int) int64 { return now - sec }), 0, id(3), []ID{id(1), id(2), id(3)}, 0},
		{"drops a record exactly Memory old", history(2, func(i int) int64 { return now - mem + int64(i-1) }), 0, id(3), []ID{id(2), id(3)}, 0},
		{"caps at MaxRecords and notes the cut", history(MaxRecords, func(i int) int64 { return now - sec + int64(i) }), 0, id(99),
			append(idsOf(history(MaxRecords, func(int) int64 { return 0 }))[1:], id(99)), now - sec + 1},
		{"keeps the newer cut", history(MaxRecords, func(i int) int64 { return now - sec + int64(i) }), now - 1, id(99),
			append(idsOf(history(MaxRecords, func(int) int64 { return 0 }))[1:], id(99)), now - 1},
		{"forgets a cut older than Memory", nil, now - mem, id(1), []ID{id(1)}, 0},
		{"keeps a cut younger than Memory", nil, now - mem + 1, id(1), []ID{id(1)}, now - mem + 1},
		{"clock went back: nothing is old", history(2, func(int) int64 { return now + sec }), 0, id(3), []ID{id(1), id(2), id(3)}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := slices.Clone(tc.ops)
			ops, cut := Append(tc.ops, tc.cut, tc.id, now)
			if got := idsOf(ops); !slices.Equal(got, tc.wantIDs) || cut != tc.wantCut {
				t.Fatalf("Append = %v, cut %d; want %v, cut %d", got, cut, tc.wantIDs, tc.wantCut)
			}
			if len(ops) > MaxRecords {
				t.Fatalf("Append kept %d records, want at most %d", len(ops), MaxRecords)
			}
			if tc.id.Valid() && (ops[len(ops)-1] != Record{ID: tc.id, At: now}) {
				t.Fatalf("last record = %+v, want %v at %d", ops[len(ops)-1], tc.id, now)
			}
			if !slices.Equal(tc.ops, before) {
				t.Fatalf("Append modified its input: %v, was %v", tc.ops, before)
			}
		})
	}
}

func idsOf(ops []Record) []ID {
	var ids []ID
	for _, r := range ops {
		ids = append(ids, r.ID)
	}
	return ids
}

func TestCheck(t *testing.T) {
	now := 100 * sec
	ops := history(3, func(int) int64 { return now - sec })
	for _, tc := range []struct {
		name   string
		cut    int64
		exists bool
		id     ID
		retry  bool
		age    time.Duration
		want   Verdict
	}{
		{"no id", 0, true, ID{}, true, time.Hour, Apply},
		{"no version yet", 0, false, id(1), true, time.Hour, Apply},
		{"first attempt, unknown", 0, true, id(9), false, 0, Apply},
		{"in the history", 0, true, id(2), false, 0, Done},
		{"in the history, late retry", 0, true, id(2), true, time.Hour, Done},
		{"retry within the window", 0, true, id(9), true, RetryWindow, Apply},
		{"retry past the window", 0, true, id(9), true, RetryWindow + 1, TooLate},
		{"first attempt past the window", 0, true, id(9), false, time.Hour, Apply},
		{"retry after a recent cut", now - sec, true, id(9), true, time.Second, Forgotten},
		{"retry after a cut exactly Memory old", now - int64(Memory), true, id(9), true, time.Second, Apply},
		{"first attempt after a recent cut", now - sec, true, id(9), false, 0, Apply},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Check(ops, tc.cut, tc.exists, tc.id, tc.retry, tc.age, now); got != tc.want {
				t.Fatalf("Check(id %v, retry %v, age %v, cut %d) = %d, want %d", tc.id, tc.retry, tc.age, tc.cut, got, tc.want)
			}
		})
	}
}

func TestApplied(t *testing.T) {
	ops := history(3, func(i int) int64 { return int64(i) })
	for _, tc := range []struct {
		name string
		ops  []Record
		id   ID
		want bool
	}{
		{"held", ops, id(3), true},
		{"not held", ops, id(4), false},
		{"other node", ops, ID{Node: 8, Seq: 3}, false},
		{"zero id", append(ops, Record{}), ID{}, false},
		{"empty history", nil, id(1), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Applied(tc.ops, tc.id); got != tc.want {
				t.Fatalf("Applied(%v) = %v, want %v", tc.id, got, tc.want)
			}
		})
	}
}
