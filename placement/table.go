package placement

import (
	"fmt"
	"math"
	"slices"
	"strconv"
)

// DefaultPartitions is the partition count used when New or PartitionOf is
// given partitions <= 0. See the package documentation for the measurements
// behind it.
const DefaultPartitions = 16384

// MaxMembers is the largest member set New accepts. Holders are stored as
// uint16 member indexes, with one value reserved for "no member".
const MaxMembers = math.MaxUint16

// none marks an absent holder in Table.holders.
const none = math.MaxUint16

// Table maps partitions to an owner and a replica chosen from a fixed member
// set. It is immutable after New and safe for concurrent use. Two tables built
// from the same member names (in any order) and partition count are equal on
// every node; ID tells them apart cheaply.
type Table struct {
	members    []string // sorted, distinct, non-empty names
	partitions int
	// holders[2p] is the owner's and holders[2p+1] the replica's index in
	// members, or none. Interleaved so Holders touches one cache line.
	holders []uint16
	id      uint64
}

// New returns the placement of partitions partitions (DefaultPartitions when
// partitions <= 0) over members. Duplicate and empty names are dropped (""
// means "no member" in results) and the order of members does not matter.
// With no members every holder is ""; with one member every replica is "".
//
// New costs O(len(members) * partitions) hash evaluations; see the package
// documentation for timings. It panics with more than MaxMembers members.
func New(members []string, partitions int) *Table {
	if partitions <= 0 {
		partitions = DefaultPartitions
	}
	ms := normalize(members)
	if len(ms) > MaxMembers {
		panic(fmt.Sprintf("placement: %d members, more than MaxMembers (%d)", len(ms), MaxMembers))
	}
	t := &Table{
		members:    ms,
		partitions: partitions,
		holders:    make([]uint16, 2*partitions),
		id:         fingerprint(ms, partitions),
	}
	t.assign()
	return t
}

// normalize returns a sorted copy of members without duplicates or "".
func normalize(members []string) []string {
	ms := make([]string, 0, len(members))
	for _, m := range members {
		if m != "" {
			ms = append(ms, m)
		}
	}
	slices.Sort(ms)
	return slices.Compact(ms)
}

// assign fills t.holders with the two highest-scoring members of each
// partition.
func (t *Table) assign() {
	hashes := make([]uint64, len(t.members))
	for i, m := range t.members {
		hashes[i] = hashString(m)
	}
	for p := 0; p < t.partitions; p++ {
		t.holders[2*p], t.holders[2*p+1] = top2(hashes, p)
	}
}

// top2 returns the indexes of the highest- and second-highest-scoring
// members for partition p, or none where there are too few members. Equal
// scores go to the lower index, which is the smaller name because members
// are sorted; only colliding name hashes can produce them.
func top2(hashes []uint64, p int) (first, second uint16) {
	first, second = none, none
	var s1, s2 uint64
	for i, h := range hashes {
		s := score(h, p)
		switch {
		case first == none || s > s1:
			second, s2 = first, s1
			first, s1 = uint16(i), s
		case second == none || s > s2:
			second, s2 = uint16(i), s
		}
	}
	return first, second
}

// Partition returns the partition of key. It does not depend on the members.
func (t *Table) Partition(key string) int { return PartitionOf(key, t.partitions) }

// Partitions returns the number of partitions.
func (t *Table) Partitions() int { return t.partitions }

// Holders returns the owner and the replica of partition p; either is ""
// when the table has too few members. The two are never equal otherwise.
// It panics if p is not in [0, Partitions()).
func (t *Table) Holders(p int) (owner, replica string) {
	if p < 0 || p >= t.partitions {
		panic("placement: partition " + strconv.Itoa(p) + " out of range [0, " + strconv.Itoa(t.partitions) + ")")
	}
	return t.name(t.holders[2*p]), t.name(t.holders[2*p+1])
}

// Owner returns the owner of partition p, or "" when there are no members.
func (t *Table) Owner(p int) string {
	owner, _ := t.Holders(p)
	return owner
}

// Replica returns the replica of partition p, or "" when there are fewer
// than two members.
func (t *Table) Replica(p int) string {
	_, replica := t.Holders(p)
	return replica
}

// OwnerOf returns the owner of key's partition.
func (t *Table) OwnerOf(key string) string { return t.Owner(t.Partition(key)) }

// HoldersOf returns the owner and replica of key's partition.
func (t *Table) HoldersOf(key string) (owner, replica string) {
	return t.Holders(t.Partition(key))
}

// Members returns the sorted member names. The slice is a copy.
func (t *Table) Members() []string { return slices.Clone(t.members) }

// Has reports whether name is a member.
func (t *Table) Has(name string) bool {
	_, ok := t.index(name)
	return ok
}

// Len returns the number of members.
func (t *Table) Len() int { return len(t.members) }

// ID returns a fingerprint of the placement algorithm version, the partition
// count and the sorted member names. Equal inputs give equal IDs on every
// node, so nodes exchange it as the placement epoch to detect that their
// membership views differ. Different inputs give different IDs except with
// probability about 2^-64.
func (t *Table) ID() uint64 { return t.id }

// Owned returns, in increasing order, the partitions name owns. It scans
// the table: O(Partitions()).
func (t *Table) Owned(name string) []int { return t.slots(name, 0) }

// Replicated returns, in increasing order, the partitions for which name
// holds the replica. It scans the table: O(Partitions()).
func (t *Table) Replicated(name string) []int { return t.slots(name, 1) }

// slots lists the partitions where name is holder number slot (0 owner,
// 1 replica).
func (t *Table) slots(name string, slot int) []int {
	i, ok := t.index(name)
	if !ok {
		return nil
	}
	var ps []int
	for p := 0; p < t.partitions; p++ {
		if t.holders[2*p+slot] == i {
			ps = append(ps, p)
		}
	}
	return ps
}

// Role returns name's role for partition p. It panics if p is out of range.
func (t *Table) Role(p int, name string) Role {
	owner, replica := t.Holders(p)
	switch {
	case name == "":
		return RoleNone
	case name == owner:
		return RoleOwner
	case name == replica:
		return RoleReplica
	}
	return RoleNone
}

// Without returns the table over the same partitions and all members except
// name, or t itself when name is not a member. Because placement is
// rendezvous hashing, it differs from t only in the partitions name held;
// the store uses it to find where a partition lived before name joined.
func (t *Table) Without(name string) *Table {
	i, ok := t.index(name)
	if !ok {
		return t
	}
	ms := slices.Delete(slices.Clone(t.members), int(i), int(i)+1)
	return New(ms, t.partitions)
}

// index returns name's index in t.members.
func (t *Table) index(name string) (uint16, bool) {
	i, ok := slices.BinarySearch(t.members, name)
	return uint16(i), ok
}

// name returns the member at index i, or "" for none.
func (t *Table) name(i uint16) string {
	if i == none {
		return ""
	}
	return t.members[i]
}

// Role is a member's part in holding a partition.
type Role uint8

const (
	// RoleNone means the member holds no copy of the partition.
	RoleNone Role = iota
	// RoleOwner means the member holds the primary copy.
	RoleOwner
	// RoleReplica means the member holds the backup copy.
	RoleReplica
)

// String returns "none", "owner" or "replica".
func (r Role) String() string {
	switch r {
	case RoleNone:
		return "none"
	case RoleOwner:
		return "owner"
	case RoleReplica:
		return "replica"
	}
	return "Role(" + strconv.Itoa(int(r)) + ")"
}

// Moved returns the number of partition copies that must be transferred to
// go from placement from to placement to: for each partition, the holders in
// to that were not holders in from. A member that changes from owner to
// replica or back keeps its copy and is not counted.
//
// A nil from, or one with a different partition count, shares nothing with
// to, so every copy in to counts.
func Moved(from, to *Table) int {
	same := from != nil && from.partitions == to.partitions
	n := 0
	for p := 0; p < to.partitions; p++ {
		var o1, o2 string
		if same {
			o1, o2 = from.Holders(p)
		}
		n1, n2 := to.Holders(p)
		if n1 != "" && n1 != o1 && n1 != o2 {
			n++
		}
		if n2 != "" && n2 != o1 && n2 != o2 {
			n++
		}
	}
	return n
}
