package memnet

import (
	"container/heap"
	"time"

	"github.com/hashicorp/memberlist"
)

// packet is a datagram in flight.
type packet struct {
	buf  []byte
	from Addr
	due  time.Time
	seq  uint64 // ties broken in send order
}

// sendPacket routes one datagram from a transport to the transport at to,
// unless a fault claims it.
func (n *Network) sendPacket(from Addr, to string, b []byte) error {
	ip, port, err := parseAddr(to)
	if err != nil {
		return err
	}
	n.stats.packetsSent.Add(1)
	n.stats.packetBytes.Add(uint64(len(b)))
	n.mu.Lock()
	var dst *transport
	if n.reachableLocked(from.IP, ip) && !n.dropLocked() {
		dst, _ = n.bound[Addr{IP: ip, Port: port}].(*transport)
	}
	delay := n.latencyLocked()
	n.mu.Unlock()
	if dst == nil {
		n.stats.packetsDropped.Add(1)
		return nil
	}
	buf := append([]byte(nil), b...)
	dst.enqueue(&packet{buf: buf, from: from, due: time.Now().Add(delay)})
	return nil
}

// run delivers packets to memberlist when they are due, until Shutdown.
func (t *transport) run() {
	defer t.wg.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		p, wait := t.next(time.Now())
		if p != nil {
			if !t.deliver(p) {
				return
			}
			continue
		}
		var due <-chan time.Time
		if wait > 0 {
			timer.Reset(wait)
			due = timer.C
		}
		select {
		case <-t.wake:
		case <-due:
		case <-t.done:
			return
		}
	}
}

// next pops the earliest due packet, or says how long until one is due
// (0: none queued).
func (t *transport) next(now time.Time) (*packet, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.inbox.Len() == 0 {
		return nil, 0
	}
	if head := t.inbox[0]; head.due.After(now) {
		return nil, head.due.Sub(now)
	}
	return heap.Pop(&t.inbox).(*packet), 0
}

// deliver hands p to memberlist unless a partition or crash now separates
// the hosts (faults apply to packets in flight too). It returns false once
// the transport is shut down.
func (t *transport) deliver(p *packet) bool {
	st := &t.host.net.stats
	if !t.host.net.reachable(p.from.IP, t.addr.IP) {
		st.packetsDropped.Add(1)
		return true
	}
	select {
	case t.packetCh <- &memberlist.Packet{Buf: p.buf, From: p.from, Timestamp: time.Now()}:
		st.packetsDelivered.Add(1)
		return true
	case <-t.done:
		return false
	}
}

// purge removes the queued packets for which drop is true and returns how
// many it removed. Lock order: the network's lock, then the transport's.
func (t *transport) purge(drop func(*packet) bool) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	kept := t.inbox[:0]
	for _, p := range t.inbox {
		if !drop(p) {
			kept = append(kept, p)
		}
	}
	removed := len(t.inbox) - len(kept)
	clear(t.inbox[len(kept):])
	t.inbox = kept
	heap.Init(&t.inbox)
	return removed
}

// packetQueue is a min-heap of packets by due time, then send order.
type packetQueue []*packet

func (q packetQueue) Len() int { return len(q) }
func (q packetQueue) Less(i, j int) bool {
	if !q[i].due.Equal(q[j].due) {
		return q[i].due.Before(q[j].due)
	}
	return q[i].seq < q[j].seq
}
func (q packetQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *packetQueue) Push(x any)   { *q = append(*q, x.(*packet)) }
func (q *packetQueue) Pop() any {
	old := *q
	p := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return p
}

func (q *packetQueue) push(p *packet) { heap.Push(q, p) }
