package gossip

import (
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/hashicorp/memberlist"
)

// roster is the cluster's member list, kept from memberlist's event
// callbacks. memberlist runs those one at a time under its node lock, so the
// Node values are read safely there; reading the *Node values returned by
// memberlist.Members later would race with memberlist updating them.
//
// It implements memberlist.EventDelegate.
type roster struct {
	self    string
	log     *slog.Logger
	changes chan struct{} // cap 1, see Cluster.Changes

	mu sync.Mutex // guards the fields below
	// members holds the alive and suspect members with valid metadata.
	members map[string]Member
	// bad holds the raw metadata of members left out because it did not
	// decode, so each bad value is logged once.
	bad map[string]string
	// selfAddr is this node's advertised gossip address.
	selfAddr string
}

var _ memberlist.EventDelegate = (*roster)(nil)

func newRoster(self string, log *slog.Logger) *roster {
	return &roster{
		self:    self,
		log:     log,
		changes: make(chan struct{}, 1),
		members: make(map[string]Member),
		bad:     make(map[string]string),
	}
}

// NotifyJoin records a member that is new or came back from dead or left.
func (r *roster) NotifyJoin(n *memberlist.Node) { r.upsert(n) }

// NotifyUpdate records a member's new metadata or address.
func (r *roster) NotifyUpdate(n *memberlist.Node) { r.upsert(n) }

// NotifyLeave removes a member that left or was declared dead.
func (r *roster) NotifyLeave(n *memberlist.Node) {
	r.mu.Lock()
	delete(r.members, n.Name)
	delete(r.bad, n.Name)
	r.mu.Unlock()
	r.signal()
}

func (r *roster) upsert(n *memberlist.Node) {
	var meta Meta
	err := meta.UnmarshalBinary(n.Meta)
	addr := n.Address()
	r.mu.Lock()
	if n.Name == r.self {
		r.selfAddr = addr
	}
	if err != nil {
		delete(r.members, n.Name)
		first := r.bad[n.Name] != string(n.Meta)
		r.bad[n.Name] = string(n.Meta)
		r.mu.Unlock()
		if first {
			r.log.Warn("gossip: ignoring member with undecodable metadata", "member", n.Name, "addr", addr, "err", err)
		}
	} else {
		delete(r.bad, n.Name)
		r.members[n.Name] = Member{Name: n.Name, Addr: addr, Meta: meta}
		r.mu.Unlock()
	}
	r.signal()
}

// signal wakes a Changes reader without ever blocking memberlist.
func (r *roster) signal() {
	select {
	case r.changes <- struct{}{}:
	default:
	}
}

// list returns the members sorted by name.
func (r *roster) list() []Member {
	r.mu.Lock()
	out := make([]Member, 0, len(r.members))
	for _, m := range r.members {
		out = append(out, m)
	}
	r.mu.Unlock()
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (r *roster) advertised() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.selfAddr
}
