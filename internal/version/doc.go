// Package version is how nodes of different sessring releases agree on the
// formats they exchange, so a cluster can be upgraded one node at a time
// without losing a session or failing a request.
//
// # Versions
//
// A protocol version names a set of formats: peer RPC frames, store
// messages and the entries they carry, pull and anti-entropy bodies,
// gossip metadata and the values written to the memcached cold tier. V1
// is the formats of the first release, which carry no version field of
// their own: anything without a version is V1. Each build speaks the
// versions from Min to Max ([Supported]).
//
// # Formats and where their version lives
//
//   - Peer RPC frames (internal/rpc): a version byte (1) in every frame
//     header. A receiver drops the connection on a frame version it does
//     not know, so another is sent only at a cluster version that has it.
//   - Store messages (package store): the request and reply body of each
//     peer method, among them replication, data movement (pull, fetch of one
//     session, handover) and anti-entropy (digests, partition repair), built
//     from internal/wire primitives. They carry no version of their own and
//     are covered by the cluster version. A new method takes a new number;
//     a member that lacks it answers rpc.CodeUnknownMethod.
//   - Stored entries travel inside those messages; in memory they never
//     outlive their process.
//   - The unit the store hands to its Backup: a format byte (1 before
//     write ids, 2 with them; the first release writes 2), the token and
//     the entry. Both formats are read.
//   - Values in memcached (package backup): magic "sR", a format byte (1)
//     and flags; keys are the prefix and a hash of the token.
//   - Gossip metadata (package gossip): a version byte. Version 2 appends
//     the node's protocol versions; it is written from the start, since
//     version 1 decoders read a longer version as version 1.
//
// Golden files of each of these live in the owning package's testdata
// directory.
//
// # What version 2 adds
//
//   - The Backup unit without the token (format 3): the memcached key
//     already names the session.
//   - The read-lease request (store's mLease) may end with a flag byte
//     saying the owner takes the replica's hand-back of sessions in pages;
//     the reply then ends with a flag for more. A joiner that takes over a
//     large share of the sessions would otherwise get one reply above the
//     peer frame limit.
//
// # Negotiation
//
// Each node advertises its range in its gossip metadata (gossip.Meta
// MinVersion and MaxVersion; metadata without them, as a first-release
// node gossips it, means 1..1). The cluster speaks the highest version
// of the range every member speaks ([Common]); store.Node.ClusterVersion
// reports it and is recomputed on every membership change. Members count
// while alive and, when lost without a graceful leave, until they are
// forgotten after the store's LostMemberTTL, so the crash or a short
// partition of the last old node does not let the others start writing
// what it cannot read when it comes back. A node whose range
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
