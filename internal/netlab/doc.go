// Package netlab builds a small network of separate hosts on one Linux
// machine, for tests that must see what crosses a real network: each host is
// a network namespace with its own IPv4 and IPv6 address on a shared bridge,
// and faults are injected on real sockets.
//
// # Layout
//
// New creates a bridge in the calling process's namespace and N namespaces,
// each joined to the bridge by a veth pair whose inner end is "eth0". A run
// takes a free /24 of 10.98.0.0/16 (and the matching fd98:0:0:K::/64): hosts
// are .1 to .N, the bridge (the machine running the test, which plays the
// load balancer or client) is .254. Nothing routes beyond the bridge, so
// nodes in the lab can reach only each other and the test.
//
// # Faults
//
// Network faults are nftables rules in each namespace's input hook (table
// "inet sessring"), so a fault drops packets silently as a real one does:
// Partition (groups that cannot hear each other), Cut (one direction between
// two hosts), Loss (a random share of the packets between hosts, via
// "numgen random"); Heal removes them all. The test's own traffic to a host
// is never dropped. Process faults (SIGKILL, SIGSTOP/SIGCONT, restart) are the
// caller's: Host.Command starts a process inside a host.
//
// # Cleanup
//
// Every name carries the creating process's id. Close removes what New made;
// New first removes what a run whose process is gone left behind (a test
// killed by its timeout), so a crashed run never breaks the next one. The
// lab needs root (CAP_NET_ADMIN), `ip` (iproute2) and `nft` (nftables):
// Available says whether this machine can build one.
package netlab
