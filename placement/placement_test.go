package placement_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/e5b1d45c/sessring/placement"
)

func TestNewNormalizesMembers(t *testing.T) {
	tests := []struct {
		name    string
		members []string
		want    []string
	}{
		{"nil", nil, []string{}},
		{"only empty", []string{"", ""}, []string{}},
		{"sorted", []string{"a", "b", "c"}, []string{"a", "b", "c"}},
		{"unsorted", []string{"c", "a", "b"}, []string{"a", "b", "c"}},
		{"duplicates and empty", []string{"b", "", "a", "b", "a"}, []string{"a", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := placement.New(tt.members, 8)
			if got := tb.Members(); !slices.Equal(got, tt.want) {
				t.Errorf("Members() = %q, want %q", got, tt.want)
			}
			if got := tb.Len(); got != len(tt.want) {
				t.Errorf("Len() = %d, want %d", got, len(tt.want))
			}
			for _, m := range tt.want {
				if !tb.Has(m) {
					t.Errorf("Has(%q) = false, want true", m)
				}
			}
			if tb.Has("") || tb.Has("zz") {
				t.Errorf(`Has("") or Has("zz") = true, want false`)
			}
		})
	}
}

func TestMembersReturnsCopy(t *testing.T) {
	tb := placement.New([]string{"a", "b"}, 8)
	tb.Members()[0] = "x"
	if got := tb.Members()[0]; got != "a" {
		t.Errorf("Members()[0] after caller edit = %q, want %q", got, "a")
	}
}

func TestPartitionsDefault(t *testing.T) {
	tests := []struct{ in, want int }{
		{-1, placement.DefaultPartitions},
		{0, placement.DefaultPartitions},
		{1, 1},
		{777, 777},
	}
	for _, tt := range tests {
		if got := placement.New([]string{"a"}, tt.in).Partitions(); got != tt.want {
			t.Errorf("New(_, %d).Partitions() = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestPartitionInRange(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, parts := range []int{1, 2, 3, 7, 1000, placement.DefaultPartitions, 1 << 22} {
		tb := placement.New([]string{"a", "b"}, parts)
		for i := 0; i < 2000; i++ {
			key := fmt.Sprintf("k%x", r.Uint64())
			p := tb.Partition(key)
			if p < 0 || p >= parts {
				t.Fatalf("Partition(%q) = %d, want in [0, %d)", key, p, parts)
			}
			if q := placement.PartitionOf(key, parts); q != p {
				t.Fatalf("PartitionOf(%q, %d) = %d, want Partition = %d", key, parts, q, p)
			}
		}
	}
	if got, want := placement.PartitionOf("k", 0), placement.PartitionOf("k", placement.DefaultPartitions); got != want {
		t.Errorf("PartitionOf(k, 0) = %d, want %d (DefaultPartitions)", got, want)
	}
}

// TestHoldersDistinct checks that each partition has an owner and a
// different replica from the member set, or "" where members are lacking.
func TestHoldersDistinct(t *testing.T) {
	for n := 0; n <= 6; n++ {
		members := seqNames(n)
		tb := placement.New(members, 512)
		for p := 0; p < tb.Partitions(); p++ {
			owner, replica := tb.Holders(p)
			wantOwner, wantReplica := n >= 1, n >= 2
			if (owner != "") != wantOwner || (replica != "") != wantReplica {
				t.Fatalf("n=%d: Holders(%d) = %q, %q; want owner set %v, replica set %v",
					n, p, owner, replica, wantOwner, wantReplica)
			}
			if n >= 2 && owner == replica {
				t.Fatalf("n=%d: Holders(%d) = %q, %q; want distinct", n, p, owner, replica)
			}
			if (owner != "" && !tb.Has(owner)) || (replica != "" && !tb.Has(replica)) {
				t.Fatalf("n=%d: Holders(%d) = %q, %q; want members", n, p, owner, replica)
			}
			if tb.Owner(p) != owner || tb.Replica(p) != replica {
				t.Fatalf("n=%d: Owner/Replica(%d) = %q, %q; want %q, %q",
					n, p, tb.Owner(p), tb.Replica(p), owner, replica)
			}
		}
	}
}

// TestDeterministic checks that placement depends only on the member set and
// the partition count, not on input order, duplicates or earlier calls.
func TestDeterministic(t *testing.T) {
	members := hostNames(20, 3)
	want := placement.New(members, 4096)
	r := rand.New(rand.NewPCG(4, 5))
	for i := 0; i < 10; i++ {
		in := append(slices.Clone(members), members[:i]...)
		r.Shuffle(len(in), func(a, b int) { in[a], in[b] = in[b], in[a] })
		got := placement.New(in, 4096)
		if got.ID() != want.ID() {
			t.Fatalf("shuffle %d: ID() = %#x, want %#x", i, got.ID(), want.ID())
		}
		if d := firstDiff(got, want); d >= 0 {
			t.Fatalf("shuffle %d: Holders(%d) differ from unshuffled table", i, d)
		}
	}
}

func TestID(t *testing.T) {
	base := placement.New([]string{"a", "b", "c"}, 64)
	tests := []struct {
		name  string
		table *placement.Table
		equal bool
	}{
		{"same input", placement.New([]string{"a", "b", "c"}, 64), true},
		{"other order", placement.New([]string{"c", "b", "a", "a"}, 64), true},
		{"other partitions", placement.New([]string{"a", "b", "c"}, 65), false},
		{"member missing", placement.New([]string{"a", "b"}, 64), false},
		{"member added", placement.New([]string{"a", "b", "c", "d"}, 64), false},
		{"names regrouped", placement.New([]string{"a", "bc"}, 64), false},
		{"renamed", placement.New([]string{"a", "b", "C"}, 64), false},
	}
	for _, tt := range tests {
		if got := tt.table.ID() == base.ID(); got != tt.equal {
			t.Errorf("%s: ID() == base.ID() is %v, want %v", tt.name, got, tt.equal)
		}
	}
}

// TestGolden pins the placement function. Nodes running different builds
// must agree on it, so a change here is a wire-protocol change: it needs a
// new algorithm version (which changes ID) and a rolling-upgrade plan.
func TestGolden(t *testing.T) {
	tb := placement.New([]string{"node-a", "node-b", "node-c", "node-d"}, 16384)
	tests := []struct {
		key       string
		partition int
		owner     string
		replica   string
	}{
		{"", 15690, "node-a", "node-c"},
		{"session-1", 9191, "node-a", "node-d"},
		{"session-2", 1230, "node-b", "node-d"},
		{"user:42", 13731, "node-a", "node-c"},
		{"9Vn3nJx0oJqQ2t1sE0nW6kqfX3nB8Yv5rT7uLmZcA1Q", 15850, "node-a", "node-c"},
	}
	for _, tt := range tests {
		p := tb.Partition(tt.key)
		owner, replica := tb.Holders(p)
		if p != tt.partition || owner != tt.owner || replica != tt.replica {
			t.Errorf("key %q: partition %d, holders %q, %q; want %d, %q, %q",
				tt.key, p, owner, replica, tt.partition, tt.owner, tt.replica)
		}
	}
	if got, want := tb.ID(), uint64(0x17d445d5d131f9fa); got != want {
		t.Errorf("ID() = %#x, want %#x", got, want)
	}
}

func TestRole(t *testing.T) {
	tb := placement.New([]string{"a", "b", "c"}, 16)
	for p := 0; p < tb.Partitions(); p++ {
		owner, replica := tb.Holders(p)
		for _, m := range []string{"a", "b", "c"} {
			want := placement.RoleNone
			switch m {
			case owner:
				want = placement.RoleOwner
			case replica:
				want = placement.RoleReplica
			}
			if got := tb.Role(p, m); got != want {
				t.Errorf("Role(%d, %q) = %v, want %v", p, m, got, want)
			}
		}
		for _, m := range []string{"", "d"} {
			if got := tb.Role(p, m); got != placement.RoleNone {
				t.Errorf("Role(%d, %q) = %v, want none", p, m, got)
			}
		}
	}
	if got := placement.New(nil, 4).Role(0, ""); got != placement.RoleNone {
		t.Errorf(`empty table: Role(0, "") = %v, want none`, got)
	}
}

func TestRoleString(t *testing.T) {
	tests := []struct {
		role placement.Role
		want string
	}{
		{placement.RoleNone, "none"},
		{placement.RoleOwner, "owner"},
		{placement.RoleReplica, "replica"},
		{placement.Role(9), "Role(9)"},
	}
	for _, tt := range tests {
		if got := tt.role.String(); got != tt.want {
			t.Errorf("Role(%d).String() = %q, want %q", uint8(tt.role), got, tt.want)
		}
	}
}

// TestOwnedReplicated checks that Owned and Replicated partition the
// table's slots among the members, in increasing order.
func TestOwnedReplicated(t *testing.T) {
	tb := placement.New(seqNames(5), 1000)
	owners := make([]int, tb.Partitions())
	replicas := make([]int, tb.Partitions())
	for _, m := range tb.Members() {
		for _, c := range []struct {
			name  string
			parts []int
			count []int
			role  placement.Role
		}{
			{"Owned", tb.Owned(m), owners, placement.RoleOwner},
			{"Replicated", tb.Replicated(m), replicas, placement.RoleReplica},
		} {
			if !slices.IsSorted(c.parts) {
				t.Errorf("%s(%q) not sorted", c.name, m)
			}
			for _, p := range c.parts {
				c.count[p]++
				if got := tb.Role(p, m); got != c.role {
					t.Errorf("%s(%q) lists %d, but Role(%d, %q) = %v", c.name, m, p, p, m, got)
				}
			}
		}
	}
	for p := range owners {
		if owners[p] != 1 || replicas[p] != 1 {
			t.Fatalf("partition %d listed by Owned %d times, Replicated %d times; want 1, 1",
				p, owners[p], replicas[p])
		}
	}
	if got := tb.Owned("stranger"); got != nil {
		t.Errorf("Owned(stranger) = %v, want nil", got)
	}
}

func TestWithout(t *testing.T) {
	members := hostNames(8, 9)
	tb := placement.New(members, 2048)
	if got := tb.Without("stranger"); got != tb {
		t.Errorf("Without(stranger) returned a new table, want the receiver")
	}
	for _, gone := range []string{members[0], members[5]} {
		got := tb.Without(gone)
		want := placement.New(slices.DeleteFunc(slices.Clone(members), func(m string) bool { return m == gone }), 2048)
		if got.ID() != want.ID() || firstDiff(got, want) >= 0 {
			t.Fatalf("Without(%q) differs from New without it", gone)
		}
		// Rendezvous: partitions gone did not hold keep their holders.
		for p := 0; p < tb.Partitions(); p++ {
			if tb.Role(p, gone) != placement.RoleNone {
				continue
			}
			o1, r1 := tb.Holders(p)
			if o2, r2 := got.Holders(p); o1 != o2 || r1 != r2 {
				t.Fatalf("Without(%q): Holders(%d) = %q, %q; want unchanged %q, %q", gone, p, o2, r2, o1, r1)
			}
		}
	}
}

func TestMoved(t *testing.T) {
	abc := placement.New([]string{"a", "b", "c"}, 64)
	tests := []struct {
		name     string
		from, to *placement.Table
		want     int
	}{
		{"unchanged", abc, placement.New([]string{"c", "b", "a"}, 64), 0},
		{"from nil", nil, abc, 128},
		{"from empty", placement.New(nil, 64), abc, 128},
		{"to empty", abc, placement.New(nil, 64), 0},
		{"other partition count", abc, placement.New([]string{"a", "b", "c"}, 32), 64},
		{"one to two members", placement.New([]string{"a"}, 64), placement.New([]string{"a", "b"}, 64), 64},
		{"join", abc, placement.New([]string{"a", "b", "c", "d"}, 64), holds(placement.New([]string{"a", "b", "c", "d"}, 64), "d")},
		{"leave", abc, abc.Without("b"), holds(abc, "b")},
	}
	for _, tt := range tests {
		if got := placement.Moved(tt.from, tt.to); got != tt.want {
			t.Errorf("%s: Moved = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestOutOfRangePanics(t *testing.T) {
	tb := placement.New([]string{"a", "b"}, 8)
	for _, p := range []int{-1, 8, 1 << 40} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Holders(%d) did not panic", p)
				}
			}()
			tb.Holders(p)
		}()
	}
}

// holds returns the number of copies name holds in tb.
func holds(tb *placement.Table, name string) int {
	return len(tb.Owned(name)) + len(tb.Replicated(name))
}

// firstDiff returns the first partition whose holders differ between a and
// b, or -1.
func firstDiff(a, b *placement.Table) int {
	if a.Partitions() != b.Partitions() {
		return 0
	}
	for p := 0; p < a.Partitions(); p++ {
		o1, r1 := a.Holders(p)
		if o2, r2 := b.Holders(p); o1 != o2 || r1 != r2 {
			return p
		}
	}
	return -1
}
