package lincheck

import (
	"fmt"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// op is one operation on a register named key: a write of value, or a read
// that returned value.
type op struct {
	key   string
	write bool
	value int
}

var register = porcupine.Model{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, o := range h {
			k := o.Input.(op).key
			if byKey[k] == nil {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], o)
		}
		var out [][]porcupine.Operation
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return 0 },
	Step: func(state, input, _ any) (bool, any) {
		if in := input.(op); in.write {
			return true, in.value
		} else {
			return in.value == state.(int), state
		}
	},
}

func write(key string, v int, call, ret int64) porcupine.Operation {
	return porcupine.Operation{Input: op{key, true, v}, Call: call, Return: ret}
}

func read(key string, v int, call, ret int64) porcupine.Operation {
	return porcupine.Operation{Input: op{key, false, v}, Call: call, Return: ret}
}

// undecidable is a history no checker decides in milliseconds: n writes
// that all overlap, then a read of a value none of them wrote. Proving it
// illegal means trying every order of the writes (2^n states even with
// porcupine's cache).
func undecidable(key string, n int) []porcupine.Operation {
	var ops []porcupine.Operation
	for i := range n {
		ops = append(ops, write(key, i+1, 0, 100))
	}
	return append(ops, read(key, -1, 200, 300))
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name        string
		ops         []porcupine.Operation
		budget      time.Duration
		want        porcupine.CheckResult
		wantRetried bool
	}{
		{"sequential", []porcupine.Operation{write("a", 1, 0, 10), read("a", 1, 20, 30)}, time.Second, porcupine.Ok, false},
		{"stale read", []porcupine.Operation{write("a", 1, 0, 10), write("a", 2, 20, 30), read("a", 1, 40, 50)}, time.Second, porcupine.Illegal, false},
		// The budget runs out: an undecided history must not pass.
		{"undecidable", undecidable("a", 40), 50 * time.Millisecond, porcupine.Unknown, true},
		// The retry decides the easy key, but one undecided key is enough
		// to withhold Ok.
		{"one undecidable key among easy ones", append(undecidable("hard", 40), write("easy", 1, 0, 10), read("easy", 1, 20, 30)), 50 * time.Millisecond, porcupine.Unknown, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Check(register, tc.ops, tc.budget)
			if got.Verdict != tc.want || got.Retried != tc.wantRetried {
				t.Errorf("Check() = %v (retried %v), want %v (retried %v)", got.Verdict, got.Retried, tc.want, tc.wantRetried)
			}
			if got.Verdict == porcupine.Unknown && got.Undecided == 0 {
				t.Errorf("Check() = Unknown with Undecided = 0, want the undecided partitions counted")
			}
		})
	}
}

// TestRetryFindsIllegalPartition: on a retry an illegal partition decides
// the verdict even beside one that stays undecided.
func TestRetryFindsIllegalPartition(t *testing.T) {
	parts := [][]porcupine.Operation{
		undecidable("hard", 40),
		{write("bad", 1, 0, 10), write("bad", 2, 20, 30), read("bad", 1, 40, 50)},
	}
	got := retry(register, parts, time.Second)
	if got.Verdict != porcupine.Illegal {
		t.Errorf("retry() = %v, want %v", got.Verdict, porcupine.Illegal)
	}
}

func ExampleCheck() {
	ops := []porcupine.Operation{write("a", 1, 0, 10), read("a", 1, 20, 30)}
	fmt.Println(Check(register, ops, time.Second).Verdict == porcupine.Ok)
	// Output: true
}
