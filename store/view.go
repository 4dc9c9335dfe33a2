package store

import (
	"github.com/e5b1d45c/sessring/gossip"
	"github.com/e5b1d45c/sessring/placement"
)

// view is one immutable snapshot of membership: the placement table and how
// to reach each member. A new view is built on every membership change and
// swapped in atomically; requests use the snapshot they started with.
type view struct {
	table   *placement.Table
	without *placement.Table  // table minus this node: where data came from
	addrs   map[string]string // member name -> peer-traffic address
	incs    map[string]uint64 // member name -> incarnation
	self    string
}

func newView(self string, members []gossip.Member, partitions int, leaving bool) *view {
	v := &view{
		addrs: make(map[string]string, len(members)),
		incs:  make(map[string]uint64, len(members)),
		self:  self,
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
	return v
}

func (v *view) id() uint64 { return v.table.ID() }

// holds reports whether self is owner or replica of p.
func (v *view) holds(p int) bool {
	o, r := v.table.Holders(p)
	return o == v.self || r == v.self
}

// sources lists the members other than self that held p before self became
// a holder: the holders of p in the table without self.
func (v *view) sources(p int) []string {
	o, r := v.without.Holders(p)
	out := make([]string, 0, 2)
	for _, s := range []string{o, r} {
		if s != "" && s != v.self {
			out = append(out, s)
		}
	}
	return out
}
