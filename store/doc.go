// Package store is a sessring cluster node: app servers that embed it share
// their HTTP sessions, with no session server to run.
//
// # Overview
//
// Each process of a service calls Open. The nodes find each other through a
// seed list (gossip, package gossip), compute the same placement from the
// member list (package placement) and keep every session on two of them: an
// owner and a replica. Any node serves any call; a node that does not own a
// session forwards the call to the owner over pooled, multiplexed, mutually
// authenticated connections. *Node satisfies scs's Store and CtxStore, so an
// alexedwards/scs SessionManager works on a cluster unchanged (a malformed
// token is a missing session, as scs expects), and IterableStore, whose
// cluster-wide scan is an administrative operation (see All); package
// middleware builds richer sessions on Load, Apply, Lock and NewToken.
//
// A map of the code for newcomers: DESIGN.md in this directory.
//
// # Consistency
//
// The owner serializes the writes of each session: it builds the next
// version, has the replica store it, then installs it, so in Sync mode
// (default) an acknowledged write is on two nodes. The replica accepts a
// version only when its own view agrees that the sender owns the partition;
// a replica that holds a newer version (after a lost acknowledgement)
// returns it and the owner adopts it. Reads go to the owner, which answers from memory only while
// its replica grants it a read lease for the same view, so an owner that is
// cut off or wrongly declared dead stops serving before anyone else starts.
// Apply changes only the named fields, so concurrent requests that touch
// different fields of one session never overwrite each other; Lock gives a
// cluster-wide lease for the rest, with fencing (ErrLeaseLost).
//
// # Membership changes
//
// When a node joins, restarts or takes over a partition, it marks the
// partition not ready and pulls it from the nodes that held it before (the
// holders in the placement without it). Until the pull completes, each
// request on that partition first fetches its session from those nodes, so
// nothing is answered from an empty memory. When a node dies, its replica
// serves at once and the new replica pulls the partition immediately, without
// waiting for traffic; anti-entropy compares owner and replica digests in the
// background and repairs any difference. Close hands every session to its
// next holders before leaving.
//
// Nodes of different releases may run together during a rolling upgrade.
// ClusterVersion is the protocol version every live member supports; a
// format introduced in a later version is written only once the cluster
// version reaches it, and every format of an earlier one is still read
// (see internal/version).
//
// # Expiry and memory
//
// Sessions carry an absolute expiry and an optional idle timeout. Only the
// owner expires a session (a replicated tombstone, then OnExpire once);
// expired data is never returned. Each node holds about 2/N of all sessions
// and at most MaxBytes. Under memory pressure (PressurePolicy) the node
// first drops the bodies of sessions that are safe in the backup; by
// default, past that, writes fail with ErrFull rather than lose a session
// that is not safe elsewhere. With EvictUnprotected it instead ends the
// least recently used sessions it owns that lack ProtectField (anonymous
// visitors' sessions, with the middleware), so logged-in users keep
// working under a flood; every such loss is counted in Stats.Evicted and
// logged.
//
// # Security
//
// With SecretKey, gossip is encrypted by memberlist's keyring and peer
// traffic uses mutual TLS 1.3 with a certificate derived from the key
// (package internal/peertls); a process without the key can neither join nor
// read nor write. Open refuses to run without SecretKey (or TLS) unless
// Insecure is set, on loopback too: other processes on the host, or in the
// same Kubernetes pod, share loopback. (Before, loopback ran without a key
// by default; tests and the examples now generate one.) A key of only zero
// bytes is refused, and a custom TLS config must authenticate both ends.
//
// OldSecretKeys rotates the key without downtime, as memberlist's keyring
// does; ClusterName keeps apart clusters that share a key (memberlist Label
// on gossip, an ALPN name agreed in every peer TLS handshake). The peer port
// bounds unauthenticated connections: a handshake must finish within a
// second, and at most 1024 connections are open per listener. A handover
// from a leaving member is merged only for sessions this node holds without
// that member, and only within MaxBytes.
//
// What the key does not protect: a node's memory and its process (anyone
// who can read /proc/<pid>/mem or attach a debugger sees every session), and
// the backup tier against rollback (see package backup).
//
// # Cold tier
//
// With a Backup (package backup: memcached), committed versions are also
// written there, write-behind (default) or write-through, and an owner that
// misses a session loads it back, so a restart of every node loses nothing.
//
// # Monitoring
//
// Stats is a snapshot of counters and holdings. Config.Observer receives
// each operation's latency (local and forwarded reads and writes,
// replication, pull) and the membership events (a member joined, failed
// with its detection time, left; this node caught up afterwards), which
// are also logged once each. Package metrics turns both into Prometheus
// series and a status document; the store itself depends on neither.
package store
