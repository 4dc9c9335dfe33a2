package memnet

import "time"

// Partition splits the hosts into groups by ip: hosts in different groups
// cannot exchange packets or open streams, and established streams between
// them break (Read and Write fail with ErrReset). Hosts not named in any
// group form one extra group together. A new Partition replaces the old.
func (n *Network) Partition(groups ...[]string) {
	n.faultMu.Lock()
	defer n.faultMu.Unlock()
	n.mu.Lock()
	n.group = make(map[string]int)
	for i, g := range groups {
		for _, ip := range g {
			n.group[ip] = i + 1
		}
	}
	var cut []*link
	for l := range n.links {
		if n.group[l.a.local.IP] != n.group[l.b.local.IP] {
			cut = append(cut, l)
		}
	}
	n.purgeInFlightLocked()
	n.mu.Unlock()
	for _, l := range cut {
		n.stats.linksBroken.Add(1)
		l.a.breakWith(ErrReset)
	}
}

// Heal removes every partition and one-way block. Data held up by a block
// is delivered, as TCP retransmits it.
func (n *Network) Heal() {
	n.faultMu.Lock()
	defer n.faultMu.Unlock()
	n.mu.Lock()
	n.group = make(map[string]int)
	n.blocked = make(map[[2]string]bool)
	var held []*pipe
	for l := range n.links {
		held = append(held, l.a.wr, l.b.wr)
	}
	n.mu.Unlock()
	for _, p := range held {
		p.setStalled(false, time.Time{})
	}
}

// Block cuts traffic from host from to host to, one way only (an
// asymmetric partition, as a one-way firewall rule or a broken route makes):
// packets from→to are lost; new streams between the two fail to dial in
// either direction with ErrTimedOut, since a handshake needs both ways; on
// established streams the data from→to that had not arrived yet is held
// up, unread, until Heal delivers it, while the other direction keeps
// flowing; a close by the from side does not reach to either. Blocks add
// up; Heal lifts them all.
func (n *Network) Block(from, to string) {
	n.faultMu.Lock()
	defer n.faultMu.Unlock()
	n.mu.Lock()
	n.blocked[[2]string{from, to}] = true
	var held []*pipe
	for l := range n.links {
		for _, c := range []*conn{l.a, l.b} {
			if c.local.IP == from && c.remote.IP == to {
				held = append(held, c.wr)
			}
		}
	}
	n.purgeInFlightLocked()
	n.mu.Unlock()
	now := time.Now()
	for _, p := range held {
		p.setStalled(true, now)
	}
}

// Isolate partitions one host from all others.
func (n *Network) Isolate(ip string) { n.Partition([]string{ip}) }

// SetDropRate makes each gossip packet, and each new stream dial, fail with
// probability p (0 <= p <= 1). Established streams are reliable, like TCP.
func (n *Network) SetDropRate(p float64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.dropRate = min(max(p, 0), 1)
}

// SetDelay adds a one-way latency of base plus a uniform random jitter in
// [0, jitter] to every packet and every stream write, and a round trip to
// every dial. Bytes of one stream still arrive in order; packets may be
// reordered by jitter, as UDP datagrams are.
func (n *Network) SetDelay(base, jitter time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.delay, n.jitter = max(base, 0), max(jitter, 0)
}

// Crash simulates a SIGKILL of every process on the host: its listeners and
// gossip transports close, its streams close (peers read the data already
// sent, then io.EOF; their writes fail), packets to and from it are dropped
// and Listen fails with ErrHostDown until Revive. Its ports become free.
func (n *Network) Crash(ip string) {
	n.faultMu.Lock()
	defer n.faultMu.Unlock()
	n.mu.Lock()
	n.crashed[ip] = true
	var eps []endpoint
	for a, ep := range n.bound {
		if a.IP == ip {
			eps = append(eps, ep)
			delete(n.bound, a)
		}
	}
	var ends []*conn
	for l := range n.links {
		for _, c := range []*conn{l.a, l.b} {
			if c.local.IP == ip {
				ends = append(ends, c)
			}
		}
	}
	n.purgeInFlightLocked()
	n.mu.Unlock()
	for _, ep := range eps {
		ep.shutdown()
	}
	for _, c := range ends {
		_ = c.Close()
	}
}

// Revive undoes Crash, so a new process can listen on the host again.
func (n *Network) Revive(ip string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.crashed, ip)
}

// purgeInFlightLocked drops queued packets whose hosts can no longer reach
// each other, so a cut applies to packets on the wire even if Heal comes
// before their due time.
func (n *Network) purgeInFlightLocked() {
	for _, ep := range n.bound {
		if t, ok := ep.(*transport); ok {
			dropped := t.purge(func(p *packet) bool { return !n.reachableLocked(p.from.IP, t.addr.IP) })
			n.stats.packetsDropped.Add(uint64(dropped))
		}
	}
}
