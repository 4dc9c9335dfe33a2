package memnet

import (
	"fmt"
	"math/rand"
	"sync"
	"sync/atomic"
	"time"
)

// Network is an in-memory network of hosts with injectable faults. The zero
// value is not usable; call New. All methods are safe for concurrent use and
// faults take effect immediately.
type Network struct {
	stats counters

	// faultMu serialises the faults that change several things in turn
	// (Partition, Block, Heal, Crash), so overlapping calls take effect in
	// one order. Taken before mu.
	faultMu sync.Mutex

	// mu guards every field below. Lock order: mu before a transport's or a
	// listener's mu; pipes are never locked with mu held.
	mu sync.Mutex
	// rng draws drops and jitter. It is seeded, so one goroutine sending a
	// fixed sequence sees a reproducible fault sequence.
	rng   *rand.Rand
	hosts map[string]*Host
	// group is each host's partition group; hosts not named are in group 0.
	group   map[string]int
	crashed map[string]bool
	// blocked holds the one-way cuts: traffic from [0] to [1] is lost.
	blocked map[[2]string]bool
	// bound maps listening addresses to their listener or gossip transport.
	bound map[Addr]endpoint
	// nextPort is each host's next candidate port.
	nextPort map[string]int
	// links are the established streams, so faults can cut them.
	links    map[*link]struct{}
	dropRate float64
	delay    time.Duration
	jitter   time.Duration
}

// endpoint is something bound to an address: a Listener or a gossip
// transport.
type endpoint interface {
	// accept hands over the server end of a new stream; false refuses it.
	accept(c *conn) bool
	// shutdown closes the endpoint (host crash).
	shutdown()
}

// link is an established stream: its two ends (each knows its host).
type link struct {
	a, b *conn
	open int // ends not yet closed; guarded by Network.mu
}

const firstPort = 10000

// New returns an empty network whose random drops and jitter are drawn from
// a math/rand source seeded with seed.
func New(seed int64) *Network {
	return &Network{
		rng:      rand.New(rand.NewSource(seed)),
		hosts:    make(map[string]*Host),
		group:    make(map[string]int),
		crashed:  make(map[string]bool),
		blocked:  make(map[[2]string]bool),
		bound:    make(map[Addr]endpoint),
		nextPort: make(map[string]int),
		links:    make(map[*link]struct{}),
	}
}

// Host returns the host with the given IPv4 address, creating it on first
// use; the same ip always yields the same *Host. It panics if ip is not an
// IPv4 literal (memberlist advertises hosts by net.IP).
func (n *Network) Host(ip string) *Host {
	if !isIPv4(ip) {
		panic(fmt.Sprintf("memnet: Host(%q): not an IPv4 literal", ip))
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	h, ok := n.hosts[ip]
	if !ok {
		h = &Host{net: n, ip: ip}
		n.hosts[ip] = h
		n.nextPort[ip] = firstPort
	}
	return h
}

// reachableLocked reports whether traffic can flow from host a to host b.
func (n *Network) reachableLocked(a, b string) bool {
	if n.crashed[a] || n.crashed[b] {
		return false
	}
	if _, ok := n.hosts[b]; !ok || n.blocked[[2]string{a, b}] {
		return false
	}
	return n.group[a] == n.group[b]
}

func (n *Network) reachable(a, b string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.reachableLocked(a, b)
}

// dropLocked draws whether the next packet or dial is lost.
func (n *Network) dropLocked() bool {
	return n.dropRate > 0 && n.rng.Float64() < n.dropRate
}

// latencyLocked draws one one-way latency.
func (n *Network) latencyLocked() time.Duration {
	d := n.delay
	if n.jitter > 0 {
		d += time.Duration(n.rng.Int63n(int64(n.jitter) + 1))
	}
	return d
}

func (n *Network) latency() time.Duration {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.latencyLocked()
}

// bindLocked reserves ip:port for ep (made once the port is known); port 0
// picks the host's next free port.
func (n *Network) bindLocked(ip string, port int, mk func(Addr) endpoint) (endpoint, error) {
	if n.crashed[ip] {
		return nil, ErrHostDown
	}
	if port == 0 {
		port = n.freePortLocked(ip)
	}
	a := Addr{IP: ip, Port: port}
	if _, taken := n.bound[a]; taken {
		return nil, ErrAddrInUse
	}
	ep := mk(a)
	n.bound[a] = ep
	return ep, nil
}

// freePortLocked returns the next unbound port of ip, wrapping at 65535.
func (n *Network) freePortLocked(ip string) int {
	for {
		p := n.nextPort[ip]
		n.nextPort[ip] = p + 1
		if p >= 65535 {
			n.nextPort[ip] = firstPort
		}
		if _, taken := n.bound[Addr{IP: ip, Port: p}]; !taken {
			return p
		}
	}
}

// unbind releases a if ep still holds it (after a crash the port may already
// belong to a new process).
func (n *Network) unbind(a Addr, ep endpoint) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.bound[a] == ep {
		delete(n.bound, a)
	}
}

// Stats are cumulative traffic counters of a Network.
type Stats struct {
	PacketsSent      uint64 // packets handed to WriteTo
	PacketsDropped   uint64 // lost to drop rate, partition, crash or no receiver
	PacketsDelivered uint64 // handed to a receiving transport
	PacketBytes      uint64 // payload bytes of PacketsSent
	Dials            uint64 // stream dials attempted
	DialsFailed      uint64 // refused, unreachable, dropped or cancelled
	StreamBytes      uint64 // bytes accepted by stream writes
	LinksBroken      uint64 // established streams cut by Partition
}

// counters is the live, atomically updated form of Stats.
type counters struct {
	packetsSent, packetsDropped, packetsDelivered, packetBytes atomic.Uint64
	dials, dialsFailed, streamBytes, linksBroken               atomic.Uint64
}

// Stats returns a snapshot of the counters.
func (n *Network) Stats() Stats {
	c := &n.stats
	return Stats{
		PacketsSent:      c.packetsSent.Load(),
		PacketsDropped:   c.packetsDropped.Load(),
		PacketsDelivered: c.packetsDelivered.Load(),
		PacketBytes:      c.packetBytes.Load(),
		Dials:            c.dials.Load(),
		DialsFailed:      c.dialsFailed.Load(),
		StreamBytes:      c.streamBytes.Load(),
		LinksBroken:      c.linksBroken.Load(),
	}
}
