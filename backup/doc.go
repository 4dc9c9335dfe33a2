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
// than values it cannot decrypt), and changing the key orphans existing
// backups until they expire.
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
package backup
