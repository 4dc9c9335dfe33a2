// Package version is how nodes of different sessring releases agree on the
// formats they exchange, so a cluster can be upgraded one node at a time
// without losing a session or failing a request.
//
// # Versions
//
// A protocol version names a set of formats: peer RPC frames, store
// messages and the entries they carry, handoff and anti-entropy bodies,
// gossip metadata and the values written to the memcached cold tier. V1
// is the formats of the first release, which carry no version field of
// their own: anything without a version is V1. Each build speaks the
// versions from Min to Max ([Supported]).
//
// # Negotiation
//
// Each node advertises its range in its gossip metadata (gossip.Meta
// MinVersion and MaxVersion; metadata without them, as a first-release
// node gossips it, means 1..1). The cluster speaks the highest version
// every live member speaks ([Cluster]); store.Node.ClusterVersion reports
// it and is recomputed on every membership change. A node whose range
// shares no version with the cluster's ([Common]) is refused when it
// joins, with an error naming both ranges.
//
// # Rules for formats
//
//   - Every build reads every version from Min to Max, whatever the
//     cluster version is.
//   - A format new in version N is written only while the cluster version
//     is at least N. Code outside package store that needs the cluster
//     version asserts interface{ ClusterVersion() int } on the store it
//     was given and treats its absence as V1.
//   - A V1 format is never changed in place. Golden encodings of each one
//     live in the testdata directory of the package that owns it and are
//     decoded by tests forever (go test -run Golden -update rewrites them
//     only for formats whose bytes are meant to change, i.e. never for V1).
//   - Raising Min drops a version: a cluster must have run at the new
//     version before such a build is deployed, and its values in the cold
//     tier must have been rewritten (they expire with their sessions).
//
// # Downgrades
//
// The cluster version is not a ratchet: a node of an older release may
// join again and the cluster falls back to the highest version all members
// speak. Messages between nodes follow at once; what a newer version wrote
// to the cold tier stays unreadable to the older build until rewritten.
// Downgrade while the cluster version is still the old one.
package version
