// Command chaos runs a sessring cluster of real node processes under steady
// load while a nemesis injects faults, then checks that the history of
// client operations was linearizable and that no acknowledged write was lost.
//
// On loopback, the nemesis kills (SIGKILL), restarts and rolls (SIGTERM, then
// restart) nodes at random:
//
//	go run ./examples/chaos -nodes 5 -duration 60s
//
// With -netns every node runs in its own network namespace (internal/netlab;
// needs root, iproute2 and nftables), bound to 0.0.0.0 as on its own host,
// and the nemesis also pauses nodes (SIGSTOP, SIGCONT), partitions the
// network into a majority and a minority, cuts one link one way and drops
// packets at random, one fault at a time:
//
//	go run ./examples/chaos -netns -nodes 5 -duration 60s
//	go run ./examples/chaos -netns -nemesis pause,partition
//
// It prints "linearizability: ok" and "acknowledged writes lost: 0", or exits
// with status 1 on a violation (the check could not decide counts as one), a
// lost write or a token that could not be read back; status 2 on bad flags
// or when -netns finds no network namespaces.
package main
