// Package clustertest runs the nodes of one test cluster on an in-memory
// network (internal/memnet), so the tests of store, backup and middleware
// share one harness: how nodes are named and addressed, how they join, crash,
// leave and restart, and when a cluster counts as converged.
//
// # Nodes of any kind
//
// Cluster is generic over the node type and drives it through Hooks: store's
// own tests run *store.Node with its internal halt, backup's tests a node
// with its memcached client, middleware's tests a node with its Manager and
// HTTP server. The package imports nothing that imports store, so package
// store's internal tests can use it without an import cycle; the store
// configuration that the other packages share is in internal/storetest.
//
// # Addresses
//
// A name gets a loopback address of its own the first time it starts
// (127.0.0.11, 127.0.0.12, ...) and keeps it across restarts; gossip listens
// on port 7946 and peer calls on 7947 (Host.GossipAddr, Host.RPCAddr).
//
// # Faults
//
// Crash kills a node the way SIGKILL does (its host drops off the network
// first, then it stops without handing anything over); Leave closes it
// gracefully; Kill only takes it out of the cluster and off the network, for
// a test that stops it itself. Net is the network, for partitions, delays
// and drops. Nodes still running when the test ends are crashed.
package clustertest
