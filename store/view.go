package store

import (
	"slices"

	"github.com/e5b1d45c/sessring/gossip"
	"github.com/e5b1d45c/sessring/placement"
)

// view is one immutable snapshot of membership: the placement table and how
// to reach each member. A new view is built on every membership change and
// swapped in atomically; requests use the snapshot they started with.
type view struct {
	table   *placement.Table
	without *placement.Table // table minus this node: where data came from
	// lost are members that disappeared without leaving gracefully, within
	// LostMemberTTL. before is the placement of the previous membership
	// (carried over by refreshes that do not change the members): where the
	// data was when the last change happened.
	lost   []string
	before *placement.Table
	addrs  map[string]string // member name -> peer-traffic address
	incs   map[string]uint64 // member name -> incarnation
	self   string

	// Read-lease bookkeeping, computed once per view rather than by a scan
	// of every partition on each renewal and grant: the replicas of the
	// partitions self owns (whom self asks for leases), and per owner the
	// partitions whose replica self is (what a grant to that owner covers).
	leaseFrom []string
	replicaOf map[string][]int
}

func newView(self string, members []gossip.Member, lost []string, partitions int, leaving bool, prev *view) *view {
	v := &view{
		addrs: make(map[string]string, len(members)),
		incs:  make(map[string]uint64, len(members)),
		self:  self,
		lost:  lost,
	}
	names := make([]string, 0, len(members))
	for _, m := range members {
		if m.Name == self && leaving {
			continue
		}
		names = append(names, m.Name)
		v.addrs[m.Name] = m.Meta.RPCAddr
		v.incs[m.Name] = m.Meta.Incarnation
	}
	v.table = placement.New(names, partitions)
	v.without = v.table.Without(self)
	v.indexLeases()
	switch {
	case prev == nil:
		v.before = v.table
	case prev.table.ID() == v.table.ID():
		v.before = prev.before
	default:
		v.before = prev.table
	}
	return v
}

func (v *view) id() uint64 { return v.table.ID() }

// indexLeases fills leaseFrom and replicaOf from the table.
func (v *view) indexLeases() {
	v.replicaOf = make(map[string][]int)
	asked := make(map[string]bool)
	for p := range v.table.Partitions() {
		o, r := v.table.Holders(p)
		switch {
		case o == v.self && r != "" && !asked[r]:
			asked[r] = true
			v.leaseFrom = append(v.leaseFrom, r)
		case r == v.self:
			v.replicaOf[o] = append(v.replicaOf[o], p)
		}
	}
	slices.Sort(v.leaseFrom)
}

// holds reports whether self is owner or replica of p.
func (v *view) holds(p int) bool {
	o, r := v.table.Holders(p)
	return o == v.self || r == v.self
}

// quorate reports whether this view holds a strict majority of the members
// known: alive plus recently lost.
func (v *view) quorate() bool {
	alive := v.table.Len()
	return 2*alive > alive+len(v.lost)
}

// lostHolder reports whether a previous holder of p (other than self) is
// among the lost members.
func (v *view) lostHolder(p int) bool {
	bo, br := v.before.Holders(p)
	for _, h := range []string{bo, br} {
		if h != "" && h != v.self && slices.Contains(v.lost, h) {
			return true
		}
	}
	return false
}

// sources lists the live members other than self that may hold data of p
// that self lacks: the holders of p in the table without self, and those of
// the previous membership that are still alive. stranded is true when every
// previous holder other than self was lost (not departed gracefully) and is
// not back yet: the data is out of reach, so p must not be declared
// complete (until LostMemberTTL forgets them).
func (v *view) sources(p int) (srcs []string, stranded bool) {
	add := func(s string) {
		if s != "" && s != v.self && v.table.Has(s) && !slices.Contains(srcs, s) {
			srcs = append(srcs, s)
		}
	}
	o, r := v.without.Holders(p)
	add(o)
	add(r)
	bo, br := v.before.Holders(p)
	add(bo)
	add(br)
	stranded, any := true, false
	for _, h := range []string{bo, br} {
		if h == "" || h == v.self {
			continue
		}
		any = true
		if !slices.Contains(v.lost, h) {
			stranded = false
		}
	}
	return srcs, stranded && any
}
