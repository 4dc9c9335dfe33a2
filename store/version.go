package store

import (
	"github.com/e5b1d45c/sessring/gossip"
	"github.com/e5b1d45c/sessring/internal/version"
)

// ClusterVersion returns the protocol version the cluster speaks: the
// highest version every live member supports, as each advertises in its
// gossip metadata (a member that advertises none, a node of the first
// release, supports version 1 only). It is recomputed on every membership
// change; a format introduced in version N is written only while it is at
// least N, and every version this build supports is read whatever it is.
// It is version.V1 until the node has seen its first member list.
func (n *Node) ClusterVersion() int { return int(n.clusterVersion.Load()) }

// noteClusterVersion recomputes the cluster version from members (this
// node counts whether or not it is listed) and logs a change.
func (n *Node) noteClusterVersion(members []gossip.Member) {
	rs := []version.Range{n.versions()}
	for _, m := range members {
		lo, hi := m.Meta.Versions()
		rs = append(rs, version.Range{Min: lo, Max: hi})
	}
	v := int32(version.Cluster(rs))
	if old := n.clusterVersion.Swap(v); old != v {
		n.log.Info("cluster version changed", "from", old, "to", v, "members", len(members))
	}
}

// versions is the range of protocol versions this node speaks.
func (n *Node) versions() version.Range {
	if n.cfg.versions != (version.Range{}) {
		return n.cfg.versions
	}
	return version.Supported()
}
