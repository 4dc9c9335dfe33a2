package gossip

import (
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/e5b1d45c/sessring/internal/version"
	"github.com/hashicorp/memberlist"
)

// admission keeps out of the cluster any node whose protocol versions (its
// Meta's Versions) share none with the versions every member speaks, the
// cluster's range: such a node could not read what the others write.
// memberlist consults it for each alive message (a node joining or
// refreshing itself through gossip) and for each join's exchange of member
// lists, on the joining node and on the seed alike. Members whose metadata
// does not decode are the roster's concern, not refused here.
//
// It implements memberlist.AliveDelegate and memberlist.MergeDelegate; the
// merge check runs after the nameGuard's.
type admission struct {
	self   string
	roster *roster
	guard  *nameGuard
	// refused is the refusal of this node's last join attempt, if the
	// cluster it reached speaks no version this node speaks.
	refused atomic.Pointer[error]
}

var (
	_ memberlist.AliveDelegate = (*admission)(nil)
	_ memberlist.MergeDelegate = (*admission)(nil)
)

// NotifyAlive refuses an alive message from a node whose range does not
// overlap the range of the other members this node knows.
func (a *admission) NotifyAlive(peer *memberlist.Node) error {
	if peer.Name == a.self {
		return nil
	}
	var m Meta
	if m.UnmarshalBinary(peer.Meta) != nil {
		return nil
	}
	return a.check([]Member{{Name: peer.Name, Meta: m}})
}

// NotifyMerge refuses a join between this node's cluster and peers (the
// other side's member list) unless all their members share a version.
func (a *admission) NotifyMerge(peers []*memberlist.Node) error {
	if err := a.guard.NotifyMerge(peers); err != nil {
		return err
	}
	var theirs []Member
	for _, p := range peers {
		var m Meta
		if p.Name == a.self || (p.State != memberlist.StateAlive && p.State != memberlist.StateSuspect) || m.UnmarshalBinary(p.Meta) != nil {
			continue
		}
		theirs = append(theirs, Member{Name: p.Name, Meta: m})
	}
	err := a.check(theirs)
	if err != nil && len(a.roster.list()) <= 1 {
		a.refused.Store(&err) // this node, alone, tried to join them
	}
	return err
}

// check returns an error wrapping ErrIncompatible if the members in theirs
// share no version with this node's other members. A name in both lists
// counts as theirs: what they say of it is newer (a node restarted with
// another build, say).
func (a *admission) check(theirs []Member) error {
	var ours []Member
	for _, m := range a.roster.list() {
		if !slices.ContainsFunc(theirs, func(t Member) bool { return t.Name == m.Name }) {
			ours = append(ours, m)
		}
	}
	if len(ours) == 0 || len(theirs) == 0 {
		return nil
	}
	our, okOurs := commonRange(ours)
	their, okTheirs := commonRange(theirs)
	if !okOurs || !okTheirs || our.Overlaps(their) {
		return nil // a split already inside one side is not this join's doing
	}
	return fmt.Errorf("%w: %s protocol versions %s; %s %s",
		ErrIncompatible, speak(ours), our, speak(theirs), their)
}

// reset forgets the refusal of an earlier join attempt.
func (a *admission) reset() { a.refused.Store(nil) }

// refusal returns why the cluster refused this node since reset, if it did.
func (a *admission) refusal() error {
	if e := a.refused.Load(); e != nil {
		return *e
	}
	return nil
}

// commonRange is the range every member in ms speaks.
func commonRange(ms []Member) (version.Range, bool) {
	rs := make([]version.Range, len(ms))
	for i, m := range ms {
		rs[i] = m.Meta.versionRange()
	}
	return version.Common(rs)
}

// speak is "a speaks" or "a and b speak", for an error.
func speak(ms []Member) string {
	if len(ms) == 1 {
		return fmt.Sprintf("%q speaks", ms[0].Name)
	}
	return nameList(ms) + " speak"
}

// nameList names members for an error: "a, b and c".
func nameList(ms []Member) string {
	names := make([]string, 0, len(ms))
	for _, m := range ms {
		names = append(names, fmt.Sprintf("%q", m.Name))
	}
	slices.Sort(names)
	if len(names) > 4 {
		names = append(names[:3], fmt.Sprintf("%d others", len(names)-3))
	}
	if len(names) == 1 {
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}
