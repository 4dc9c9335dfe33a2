// Package memnet is an in-memory network with injectable faults, so that a
// cluster of sessring nodes (memberlist gossip plus peer streams) runs inside
// one test process, quickly and reproducibly.
//
// # Hosts and addresses
//
// A Network holds hosts named by IPv4 literals ("127.0.0.11"). Network.Host
// returns the same *Host for the same ip; a *Host implements store.Network
// (Listen, Dial, GossipTransport), so each node under test gets its own host
// and every byte it sends is subject to the faults below. Ports are per host;
// asking for port 0 allocates the next free one, starting at 10000.
// Addresses are Addr values with Network "memnet" and String "ip:port".
//
// # Streams
//
// Streams behave like TCP rather than net.Pipe: each direction buffers up to
// StreamBuffer bytes, so Write returns without waiting for the reader and only
// blocks (backpressure) when the buffer is full. Deadlines work as on
// net.TCPConn: an expired deadline fails Read or Write with an error whose
// Timeout method reports true and that wraps os.ErrDeadlineExceeded. Close
// lets the peer read what was sent, then io.EOF. crypto/tls works on top.
//
// # Gossip transport
//
// Host.GossipTransport returns a memberlist.NodeAwareTransport. Packets are
// best-effort: a lost packet is silently gone, as with UDP, so memberlist's
// failure detector sees missing acks rather than send errors. Each transport
// runs one delivery goroutine, stopped and waited for by Shutdown.
//
// # Faults
//
// Partition, Isolate and Heal split hosts into groups; traffic between groups
// is dropped, dials fail with ErrUnreachable and established streams break
// with ErrReset. Block cuts one direction between two hosts only (an
// asymmetric partition): packets that way are lost, dials either way time
// out, and established streams hold that direction's data back until Heal
// while the other direction flows. SetDropRate loses packets and dials with a probability drawn
// from the Network's seeded source; SetDelay adds latency with jitter (stream
// bytes keep their order). Crash kills everything on a host as SIGKILL would,
// freeing its ports; Revive lets a new process start there. All faults apply
// at once, to packets already in flight too. Stats counts the traffic.
//
// # Determinism
//
// Drops and jitter come from math/rand seeded by New's argument. A single
// goroutine sending a fixed sequence therefore sees the same faults on every
// run; with many goroutines, the interleaving (and so which packet draws which
// number) is up to the scheduler.
package memnet
