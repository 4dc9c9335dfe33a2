// Package gossip is sessring's cluster membership: which nodes are up, at
// which address they take peer traffic, and whether one restarted. It wraps
// hashicorp/memberlist (SWIM gossip with failure detection) behind a small
// API: New, Members, Changes, SetMeta, Leave, Close.
//
// # Members and metadata
//
// Every node gossips a Meta: the address of its peer-traffic listener and an
// incarnation id that is random per process start. A node that crashed and
// came back under the same Name has a new incarnation, which tells its peers
// that whatever it held in memory is gone. Members lists the live nodes
// (alive or suspect) sorted by Name; Changes signals, coalesced, whenever that
// list or a member's Meta changes. Meta has a compact, versioned binary
// encoding that fits memberlist's 512-byte limit.
//
// # Protocol versions
//
// A Meta also carries the protocol versions its node speaks (MinVersion,
// MaxVersion; absent in the metadata of the first release, which speaks
// version 1 only, see Meta.Versions). New fills in this build's range. A
// node whose range shares no version with the range every member speaks is
// refused: New fails at once with ErrIncompatible naming both ranges, and
// the members ignore it, whether it asks to join or only gossips.
//
// # Joining
//
// New joins the seed addresses in Config.Join, retrying with jitter until one
// accepts the node or JoinTimeout passes, so nodes may start in any order.
// A restarted process rejoins under its old Name: at the same address it
// simply refutes its old state; at a new address the cluster first has to
// declare the old one dead and wait Config.DeadNodeReclaimTime, and New waits
// for that. After a network partition heals, memberlist does not rediscover
// the members it declared dead; call Join with a few known addresses.
//
// # Failure detection
//
// The defaults (DefaultConfig) suit one LAN or data centre: probes every
// 500ms with a 250ms timeout, suspicion for 4 probe intervals, so a crashed
// node leaves Members after about 2.5-3 seconds. A node that calls Leave
// before Close disappears from the others' lists within a few gossip rounds.
//
// # Security
//
// With Config.SecretKey all gossip is encrypted and authenticated with
// AES-GCM, and unencrypted or foreign-key traffic is dropped in both
// directions: keyed and unkeyed nodes cannot join each other. A key of only
// zero bytes is refused. Config.OldSecretKeys are still accepted on input
// (memberlist's keyring), so a key is rotated without downtime; see the
// field. Config.Label separates clusters that share a key: gossip with
// another label, or none, is refused.
//
// # Testing
//
// Config.Transport accepts any memberlist.NodeAwareTransport; sessring's
// tests use internal/memnet to run many nodes in one process with packet
// loss, latency, partitions and crashes.
package gossip
