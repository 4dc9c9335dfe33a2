package gossip

import "errors"

// Sentinel errors. Every error returned by this package wraps one of these
// with %w and the "gossip:" prefix, so callers test them with errors.Is.
var (
	// ErrBadConfig wraps every Config.Validate failure.
	ErrBadConfig = errors.New("gossip: invalid config")

	// ErrBadMeta means node metadata could not be encoded or decoded:
	// malformed, truncated, oversized, or of an unknown version.
	ErrBadMeta = errors.New("gossip: invalid node metadata")

	// ErrJoin means no seed could be joined: within Config.JoinTimeout for
	// New, or in a single attempt for Cluster.Join. Causes include seeds that
	// are down, a SecretKey mismatch, and the node's Name still being held by
	// another live address.
	ErrJoin = errors.New("gossip: could not join the cluster")

	// ErrNoAdvertiseAddr means the node is bound to a wildcard address
	// (0.0.0.0, [::] or ":port") and no single address of this host could
	// be chosen for other nodes to reach it: set Config.AdvertiseAddr.
	ErrNoAdvertiseAddr = errors.New("gossip: no address to advertise")

	// ErrIncompatible means a node and the cluster it tried to join share
	// no protocol version (see Meta.Versions): the node runs a release too
	// old or too new for every member. The error names the versions each
	// side speaks.
	ErrIncompatible = errors.New("gossip: incompatible protocol versions")

	// ErrClosed is returned by calls on a Cluster after Close.
	ErrClosed = errors.New("gossip: cluster closed")

	// ErrLeft is returned by SetMeta and Join after Leave: a node that left
	// must be closed and started again to rejoin.
	ErrLeft = errors.New("gossip: node has left the cluster")
)
