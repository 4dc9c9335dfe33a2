package store

import (
	"github.com/e5b1d45c/sessring/gossip"
	"github.com/e5b1d45c/sessring/internal/version"
)

// ClusterVersion returns the protocol version the cluster speaks: the
// highest version every member supports, as each advertises in its gossip
// metadata (a member that advertises none, a node of the first release,
// supports version 1 only). Members count while alive and, once lost
// without a graceful leave, until they are forgotten after LostMemberTTL:
// a crashed or cut-off node of an older release comes back to a cluster
// that still writes what it reads. A format introduced in version N is
// written only while this is at least N, and every version this build
// supports is read whatever it is. It is version.V1 until the node has
// seen its first member list.
func (n *Node) ClusterVersion() int { return int(n.clusterVersion.Load()) }

// noteClusterVersion recomputes the cluster version from the live members
// and the lost ones not yet forgotten (this node counts whether or not it
// is listed) and logs a change. Called with viewMu held, after lost
// members were tracked.
func (n *Node) noteClusterVersion(members []gossip.Member, lost []string) {
	known := make(map[string]version.Range, len(members)+len(lost))
	for _, m := range members {
		lo, hi := m.Meta.Versions()
		known[m.Name] = version.Range{Min: lo, Max: hi}
	}
	for _, name := range lost {
		if r, ok := n.memberVersions[name]; ok {
			known[name] = r
		}
	}
	n.memberVersions = known
	rs := []version.Range{n.versions()}
	for _, r := range known {
		rs = append(rs, r)
	}
	c, ok := version.Common(rs)
	if !ok {
		// Admission refuses such a member; until it is gone keep the
		// version every current member already agreed on.
		n.log.Warn("members share no protocol version; keeping the cluster version", "version", n.ClusterVersion())
		return
	}
	v := int32(c.Max)
	if old := n.clusterVersion.Swap(v); old != v {
		n.log.Info("cluster version changed", "from", old, "to", v, "members", len(members), "lost", len(lost))
	}
}

// versions is the range of protocol versions this node speaks.
func (n *Node) versions() version.Range {
	if n.cfg.versions != (version.Range{}) {
		return n.cfg.versions
	}
	return version.Supported()
}
