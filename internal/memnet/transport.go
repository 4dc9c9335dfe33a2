package memnet

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// streamBacklog bounds streams handed to memberlist but not yet taken.
const streamBacklog = 64

// transport is a memberlist.NodeAwareTransport on a Host. Packets are
// best-effort like UDP: a packet that is dropped, partitioned away or sent to
// a port without a transport vanishes without an error, so memberlist's
// failure detector notices through missing acks, as on a real network.
// Streams are memnet conns.
//
// One goroutine per transport delivers queued packets at their due time; it
// is stopped and waited for by Shutdown (or by a Crash of the host).
type transport struct {
	host     *Host
	addr     Addr
	packetCh chan *memberlist.Packet
	streamCh chan net.Conn
	wake     chan struct{} // cap 1: a packet was queued
	done     chan struct{} // closed by Shutdown
	wg       sync.WaitGroup

	mu sync.Mutex // guards the fields below and sends on streamCh
	// inbox holds packets until they are due, earliest first.
	inbox  packetQueue
	seq    uint64
	closed bool
}

var _ memberlist.NodeAwareTransport = (*transport)(nil)

// newTransport is called with the network lock held; run starts after.
func newTransport(h *Host, a Addr) *transport {
	t := &transport{
		host:     h,
		addr:     a,
		packetCh: make(chan *memberlist.Packet),
		streamCh: make(chan net.Conn, streamBacklog),
		wake:     make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	t.wg.Add(1)
	return t
}

// FinalAdvertiseAddr returns ip and port if ip is given (port 0 meaning the
// bound port), else the bound address.
func (t *transport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	if ip == "" {
		return net.ParseIP(t.addr.IP).To4(), t.addr.Port, nil
	}
	adv := net.ParseIP(ip)
	if adv == nil {
		return nil, 0, fmt.Errorf("memnet: advertise address %q is not an IP", ip)
	}
	if v4 := adv.To4(); v4 != nil {
		adv = v4
	}
	if port == 0 {
		port = t.addr.Port
	}
	return adv, port, nil
}

// WriteTo sends one packet; see WriteToAddress.
func (t *transport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

// WriteToAddress sends one packet. Only a shut down transport or a malformed
// address is an error; loss is silent.
func (t *transport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	if isClosed(t.done) {
		return time.Time{}, opError("write", t.addr, nil, net.ErrClosed)
	}
	if err := t.host.net.sendPacket(t.addr, a.Addr, b); err != nil {
		return time.Time{}, opError("write", t.addr, nil, err)
	}
	return time.Now(), nil
}

// PacketCh delivers incoming packets.
func (t *transport) PacketCh() <-chan *memberlist.Packet { return t.packetCh }

// StreamCh delivers incoming streams.
func (t *transport) StreamCh() <-chan net.Conn { return t.streamCh }

// DialTimeout opens a stream to addr.
func (t *transport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	if isClosed(t.done) {
		return nil, opError("dial", t.addr, nil, net.ErrClosed)
	}
	ctx := context.Background()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	return t.host.Dial(ctx, addr)
}

// DialAddressTimeout opens a stream to a.Addr.
func (t *transport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	return t.DialTimeout(a.Addr, timeout)
}

// Shutdown frees the port, drops queued packets and unaccepted streams, and
// returns after the delivery goroutine exited. It is idempotent.
func (t *transport) Shutdown() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	t.inbox = nil
	close(t.done)
	t.mu.Unlock()
	t.host.net.unbind(t.addr, t)
	t.wg.Wait()
	closePending(t.streamCh)
	return nil
}

func (t *transport) shutdown() { _ = t.Shutdown() }

// accept hands a dialled stream to memberlist.
func (t *transport) accept(c *conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	select {
	case t.streamCh <- c:
		return true
	default:
		return false
	}
}

// enqueue holds p until it is due.
func (t *transport) enqueue(p *packet) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		t.host.net.stats.packetsDropped.Add(1)
		return
	}
	t.seq++
	p.seq = t.seq
	t.inbox.push(p)
	t.mu.Unlock()
	select {
	case t.wake <- struct{}{}:
	default:
	}
}
