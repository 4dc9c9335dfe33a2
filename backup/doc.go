// Package backup is sessring's optional cold tier: it keeps a copy of every
// session in memcached, so that even a restart of every node at once loses
// nothing.
//
// # Overview
//
// A Memcached implements store.Backup. The store decides when to write,
// retry, restore and passivate; this package only moves bytes, one
// synchronous request at a time, bounded by Config.Timeout and the
// caller's context:
//
//	b, err := backup.New(backup.Config{
//		Servers:   []string{"m1:10.0.0.1:11211", "m2:10.0.0.2:11211"},
//		Failover:  []string{"spare:10.0.0.9:11211"},
//		SecretKey: clusterKey,
//	})
//
// Config follows memcached-session-manager's names where they exist
// (memcachedNodes, failoverNodes, storageKeyPrefix, operationTimeout).
// Stats reports counters and the health of each server.
//
// # Keys
//
// A session token never reaches memcached. The key is KeyPrefix followed by
// the base64url of HMAC-SHA256(token) under a key derived from SecretKey,
// or of SHA-256(token) without one. Someone who can list or dump memcached
// therefore learns no token that would let them hijack a session. As keys
// depend on SecretKey, a node with another SecretKey finds nothing (rather
// than values it cannot decrypt). To change the key without orphaning the
// cold tier, list the previous key in OldSecretKeys (store.Open passes
// store.Config.OldSecretKeys along when it keys the backup): a token not
// found under SecretKey is looked up under each old key, and every Put or
// Delete also removes the token's old-key copies, so during a rolling key
// change, with nodes writing under either key, at most one copy is current
// and every node reads it.
//
// # Values and encryption
//
// A stored value is an 8-byte header (magic, format version, flags,
// original length) and a payload. Values longer than CompressAbove are
// compressed with S2 when that makes them smaller. With a SecretKey the
// payload is sealed with AES-256-GCM, which encrypts and authenticates it.
// The root keys are HKDF-SHA256(SecretKey, info "sessring backup v1"),
// 32 bytes for encryption and 32 for the key HMAC. Each value gets a
// 16-byte random salt, and its GCM key and nonce are HKDF-SHA256 of the
// root key and that salt, so no GCM nonce budget limits the number of
// writes under one SecretKey. The header and the memcached key are
// authenticated as additional data, so a value copied to another session's
// key, or with altered flags, does not decode.
//
// The value is the store's encoding of the session. Clusters whose members
// all speak protocol version 2 leave the token out of it (the first
// release's values carry it, and are read forever).
//
// Get fails with ErrCorrupt, and never returns garbage, for a value that
// is malformed, truncated or altered, was copied from another key, or was
// sealed under a different SecretKey. With a SecretKey it also rejects
// unencrypted values, which anyone with access to memcached could forge. A
// value's
// encoded size is limited by MaxItemSize (memcached's item limit) and its
// decoded size by MaxValueSize; the latter is checked before decompression
// allocates anything.
//
// # Expiry
//
// Put takes an absolute expiry. memcached reads an expiration above 30
// days as an absolute Unix time, so a relative "31 days" means a moment in
// 1970 and the item disappears at once, a trap memcached-session-manager
// users fell into. Here, expiries up to 30 days ahead are sent as relative
// seconds, rounded up, and later ones as absolute Unix times, which depend
// on memcached's clock agreeing with ours. A zero expiry means the value
// never expires. An expiry in the past deletes the value instead of
// storing it.
//
// # Failover
//
// Keys are spread over Servers by rendezvous hashing of the server ids, so
// adding one server to N moves only about 1/(N+1) of the keys, where
// gomemcache's default crc32-mod-N selector moves most of them. Give each
// server a stable id ("id:host:port") to move it to another address
// without moving its keys.
//
// A server whose request fails with a network error (refused, timed out)
// is skipped for DownFor. Meanwhile its keys go to the next server in each
// key's ranking, Puts and Gets alike, so a session written during the
// outage is read back from the same stand-in. Servers in Failover are used
// only while every primary server is down. A call tries servers in turn
// until one answers, at most for about Timeout, then fails with
// ErrUnavailable.
//
// When a server returns, its keys are read from it again, and copies
// written to stand-ins during the outage are no longer read. They expire
// with their own TTL. So that such a copy cannot bring back a deleted
// session should the first choice fail again, Delete removes the key from
// every server that is up.
//
// # Using it with the store
//
// Give every node its own Memcached, with the same Servers. A Memcached
// configured without a SecretKey takes its keys from the store's
// (store.Open calls UseClusterKey), so a keyed cluster never writes plaintext
// sessions, and a value planted in memcached under the hash of a chosen
// token does not load. (Before, such a backup stored plain values.) Give
// the backup a SecretKey of its own only to keep it apart from the cluster
// key.
// Close the node first, so its last write-behind flush still has a client,
// then the backup:
//
//	b, err := backup.New(backup.Config{Servers: servers, SecretKey: clusterKey})
//	if err != nil { ... }
//	node, err := store.Open(store.Config{
//		SecretKey:   clusterKey,
//		Join:        seeds,
//		Backup:      b,
//		BackupMode:  store.WriteBehind, // or store.WriteThrough
//		BackupDelay: time.Second,
//	})
//	if err != nil { ... }
//	defer b.Close()
//	defer node.Close()
//
// In write-behind mode (the default) a write returns once the owner and the
// replica hold it; the owner keeps the latest version of each session in a
// queue and writes it to memcached within BackupDelay. If every node crashes
// at once, the writes of the last BackupDelay are lost, a logout (Delete)
// included, plus whatever queued up while memcached was unreachable.
// Stats().Backup.Pending counts the versions not yet in memcached, those
// being written included: at zero, every write acknowledged before is there.
//
// In write-through mode a write returns only after memcached has stored it
// (before it is replicated), so every acknowledged write survives a crash
// of every node, at the price of one memcached round trip per write. A
// write whose replication fails afterwards may still be in memcached.
//
// The owner of a session it does not hold (after a full restart, say) reads
// it from memcached and puts it back on owner and replica; concurrent reads
// of one token share one Get. A miss costs a Get, including the first
// write of a new session and a lookup of an unknown token; a token the
// backup did not have is not asked for again for a second (at most 8192
// such tokens are remembered). The Get runs outside the partition's write
// lock, so a slow or hanging memcached delays only the requests for the
// tokens being looked up, not the other sessions of their partition. Sessions are
// stored with their effective deadline, the earlier of the absolute expiry
// and the last access plus the idle timeout, so an idle session's touches
// are written through the queue too, and expired sessions are not restored.
//
// # Who can write to memcached
//
// memcached has no authentication by default, and anyone who can write to
// it can roll a session back: put an earlier value back under its key, or
// after a logout the value the session had before. Sealing stops forged
// and moved values, not replayed ones. While the cluster runs, a deleted
// session's tombstone outlives the session's own deadline, so a replayed
// value does not restore a logout; after a restart of every node the
// deletions are forgotten (the value's own deadline still applies). Run
// memcached with SASL authentication, or on a network only the app servers
// reach.
//
// # When memcached is down
//
// Every call gives up after about Timeout, and a failed server is skipped
// for DownFor, so requests do not wait for it. In write-behind mode no
// request fails: writes queue up (at most BackupQueue sessions; beyond that
// Stats().Backup.Dropped counts the versions given up), the queue retries
// with a backoff that doubles up to 30s while nothing gets through, and
// drains once memcached answers again. In write-through mode writes fail
// with store.ErrBackup and change nothing in the cluster, while reads of
// sessions the cluster holds go on working. In both modes a session that is
// only in memcached reads as missing until memcached is back; the failure is
// logged, not returned.
//
// memcached keeps nothing across its own restart. Sessions not written since
// are still held by the cluster and reach memcached with their next write;
// until then, a crash of every node would lose them.
//
// A session the store accepts (store.Config.MaxValueBytes, 1 MiB by
// default) may not fit memcached's item limit (MaxItemSize) once framed and
// sealed: in write-through mode the write fails with an error matching
// store.ErrTooLarge (ErrTooLarge matches it); in write-behind mode the
// cluster keeps the session, the version is not retried, and it is logged
// and counted in Stats().Backup.Dropped. Keep MaxValueBytes a few hundred
// bytes below MaxItemSize for incompressible values, or raise both
// MaxItemSize and memcached's -I.
package backup
