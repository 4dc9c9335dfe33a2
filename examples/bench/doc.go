// Command bench measures sessring against the session servers it replaces,
// on the machine that runs it, and prints one markdown table.
//
//	go run ./examples/bench                     # about a minute
//	go run ./examples/bench -duration 10s -concurrency 32 -size 8192
//	go run ./examples/bench -only failover
//
// Rows:
//   - store level: Find on the owner (no network), Find forwarded to a
//     remote owner, Commit replicated synchronously (at the owner, and sent
//     via another node), against memcached get/set (gomemcache) and Redis
//     GET/SET EX, one caller for latency and -concurrency callers for
//     throughput;
//   - HTTP level: a read-and-update handler on three app server processes
//     behind a round-robin httputil.ReverseProxy, for sessring with a
//     sticky and a non-sticky balancer, sessions in memcached
//     (memcached-session-manager non-sticky), sessions in Redis, and no
//     sessions at all (the floor);
//   - failover: SIGKILL of one app process under load, until its sessions
//     are served again, with the errors clients saw;
//   - memory per node for -sessions sessions of -size bytes.
//
// memcached and redis-server are started on free loopback ports when
// installed; a missing one only drops its rows. Every process this command
// starts is its own child and dies with it. The nodes use production
// defaults (gossip timing, timeouts, Sync replication) and a random
// SecretKey, so peer traffic is mutual TLS.
package main
