package memnet_test

import (
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/e5b1d45c/sessring/internal/memnet"
	"github.com/e5b1d45c/sessring/internal/testkit"
)

// gossipOn opens a gossip transport on h, shut down at cleanup.
func gossipOn(t *testing.T, h *memnet.Host) memberlist.NodeAwareTransport {
	t.Helper()
	tr, err := h.GossipTransport(":0")
	if err != nil {
		t.Fatalf("GossipTransport(%s:0) error = %v", h.IP(), err)
	}
	t.Cleanup(func() { _ = tr.Shutdown() })
	return tr
}

func addrOf(t *testing.T, tr memberlist.Transport) string {
	t.Helper()
	ip, port, err := tr.FinalAdvertiseAddr("", 0)
	if err != nil {
		t.Fatalf("FinalAdvertiseAddr() error = %v", err)
	}
	return net.JoinHostPort(ip.String(), strconv.Itoa(port))
}

// recv waits for one packet.
func recv(t *testing.T, tr memberlist.Transport, timeout time.Duration) *memberlist.Packet {
	t.Helper()
	select {
	case p := <-tr.PacketCh():
		return p
	case <-time.After(timeout):
		t.Fatalf("no packet within %v", timeout)
		return nil
	}
}

// noPacket fails if a packet arrives within d.
func noPacket(t *testing.T, tr memberlist.Transport, d time.Duration) {
	t.Helper()
	select {
	case p := <-tr.PacketCh():
		t.Fatalf("got packet %q from %s, want none", p.Buf, p.From)
	case <-time.After(d):
	}
}

func TestFinalAdvertiseAddr(t *testing.T) {
	tr := gossipOn(t, memnet.New(1).Host("127.0.0.11"))
	tests := []struct {
		name     string
		ip       string
		port     int
		wantIP   string
		wantPort int
	}{
		{"bound address", "", 0, "127.0.0.11", 10000},
		{"explicit", "10.0.0.1", 7946, "10.0.0.1", 7946},
		{"explicit ip, bound port", "10.0.0.1", 0, "10.0.0.1", 10000},
	}
	for _, tt := range tests {
		ip, port, err := tr.FinalAdvertiseAddr(tt.ip, tt.port)
		if err != nil || ip.String() != tt.wantIP || port != tt.wantPort || len(ip) != net.IPv4len {
			t.Errorf("%s: FinalAdvertiseAddr(%q, %d) = %v, %d, %v, want %s, %d, nil (4-byte IP)",
				tt.name, tt.ip, tt.port, ip, port, err, tt.wantIP, tt.wantPort)
		}
	}
	if _, _, err := tr.FinalAdvertiseAddr("nonsense", 1); err == nil {
		t.Errorf("FinalAdvertiseAddr(nonsense) error = nil, want an error")
	}
}

func TestPacketDelivery(t *testing.T) {
	n := memnet.New(1)
	a, b := gossipOn(t, n.Host("127.0.0.11")), gossipOn(t, n.Host("127.0.0.12"))
	buf := []byte("ping")
	if _, err := a.WriteToAddress(buf, memberlist.Address{Addr: addrOf(t, b), Name: "b"}); err != nil {
		t.Fatalf("WriteToAddress() error = %v", err)
	}
	buf[0] = 'X' // the transport must have copied it
	p := recv(t, b, time.Second)
	if string(p.Buf) != "ping" || p.From.String() != addrOf(t, a) || p.Timestamp.IsZero() {
		t.Fatalf("packet = %q from %s at %v, want \"ping\" from %s with a timestamp", p.Buf, p.From, p.Timestamp, addrOf(t, a))
	}
	if _, err := a.WriteTo([]byte("lost"), "127.0.0.12:9"); err != nil {
		t.Errorf("WriteTo(port without transport) error = %v, want nil (silent loss, like UDP)", err)
	}
}

// dropsFor sends count packets with drop rate p on a network seeded with
// seed and returns how many were dropped.
func dropsFor(t *testing.T, seed int64, p float64, count int) uint64 {
	n := memnet.New(seed)
	a, b := gossipOn(t, n.Host("127.0.0.11")), gossipOn(t, n.Host("127.0.0.12"))
	n.SetDropRate(p)
	to := addrOf(t, b)
	for range count {
		if _, err := a.WriteTo([]byte{1}, to); err != nil {
			t.Fatalf("WriteTo() error = %v", err)
		}
	}
	_ = a.Shutdown()
	_ = b.Shutdown()
	return n.Stats().PacketsDropped
}

func TestPacketDropRate(t *testing.T) {
	tests := []struct {
		seed int64
		p    float64
	}{{1, 0.1}, {2, 0.3}, {3, 0.5}}
	const count = 2000
	for _, tt := range tests {
		first := dropsFor(t, tt.seed, tt.p, count)
		if again := dropsFor(t, tt.seed, tt.p, count); again != first {
			t.Errorf("seed %d: dropped %d then %d, want the same count for the same seed", tt.seed, first, again)
		}
		if got, want := float64(first)/count, tt.p; got < want-0.05 || got > want+0.05 {
			t.Errorf("seed %d: drop fraction = %.3f, want %.2f ± 0.05", tt.seed, got, want)
		}
	}
}

func TestPacketDelay(t *testing.T) {
	n := memnet.New(1)
	a, b := gossipOn(t, n.Host("127.0.0.11")), gossipOn(t, n.Host("127.0.0.12"))
	n.SetDelay(20*time.Millisecond, 20*time.Millisecond)
	to := addrOf(t, b)
	for range 10 {
		sent, err := a.WriteTo([]byte("x"), to)
		if err != nil {
			t.Fatalf("WriteTo() error = %v", err)
		}
		p := recv(t, b, time.Second)
		if d := p.Timestamp.Sub(sent); d < 20*time.Millisecond || d > 2*time.Second {
			t.Errorf("packet took %v, want 20ms-40ms (plus scheduling delays)", d)
		}
	}
}

func TestPacketPartition(t *testing.T) {
	n := memnet.New(1)
	a, b := gossipOn(t, n.Host("127.0.0.11")), gossipOn(t, n.Host("127.0.0.12"))
	to := addrOf(t, b)

	n.Isolate("127.0.0.12")
	if _, err := a.WriteTo([]byte("cut"), to); err != nil {
		t.Fatalf("WriteTo() across a partition error = %v, want nil (silent loss)", err)
	}
	noPacket(t, b, 30*time.Millisecond)

	n.Heal()
	n.SetDelay(30*time.Millisecond, 0)
	if _, err := a.WriteTo([]byte("in flight"), to); err != nil {
		t.Fatalf("WriteTo() error = %v", err)
	}
	n.Isolate("127.0.0.12") // cuts the packet already on its way
	noPacket(t, b, 80*time.Millisecond)

	n.Heal()
	if _, err := a.WriteTo([]byte("healed"), to); err != nil {
		t.Fatalf("WriteTo() error = %v", err)
	}
	if p := recv(t, b, time.Second); string(p.Buf) != "healed" {
		t.Fatalf("packet after Heal = %q, want \"healed\"", p.Buf)
	}
	// The delivery goroutine counts a packet once memberlist took it.
	testkit.Eventually(t, time.Second, "Stats() sent/dropped/delivered = 3/2/1", func() bool {
		got := n.Stats()
		return got.PacketsSent == 3 && got.PacketsDropped == 2 && got.PacketsDelivered == 1
	})
}

func TestTransportStreams(t *testing.T) {
	n := memnet.New(1)
	a, b := gossipOn(t, n.Host("127.0.0.11")), gossipOn(t, n.Host("127.0.0.12"))
	c, err := a.DialAddressTimeout(memberlist.Address{Addr: addrOf(t, b), Name: "b"}, time.Second)
	if err != nil {
		t.Fatalf("DialAddressTimeout() error = %v", err)
	}
	defer c.Close()
	var s net.Conn
	select {
	case s = <-b.StreamCh():
	case <-time.After(time.Second):
		t.Fatalf("no stream on StreamCh within 1s")
	}
	defer s.Close()
	if _, err := c.Write([]byte("push")); err != nil {
		t.Fatalf("Write() error = %v", err)
	}
	buf := make([]byte, 4)
	if _, err := s.Read(buf); err != nil || string(buf) != "push" {
		t.Fatalf("Read() = %q, %v, want \"push\", nil", buf, err)
	}
}

func TestTransportCrashAndRevive(t *testing.T) {
	testkit.CheckGoroutines(t, 5*time.Second)
	n := memnet.New(1)
	a := gossipOn(t, n.Host("127.0.0.11"))
	b := gossipOn(t, n.Host("127.0.0.12"))
	to := addrOf(t, b)

	n.Crash("127.0.0.12")
	if _, err := b.WriteTo([]byte("x"), addrOf(t, a)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("WriteTo() from crashed host error = %v, want net.ErrClosed", err)
	}
	if _, err := a.DialTimeout(to, time.Second); !errors.Is(err, memnet.ErrUnreachable) {
		t.Errorf("DialTimeout() to crashed host error = %v, want %v", err, memnet.ErrUnreachable)
	}
	if err := b.Shutdown(); err != nil {
		t.Errorf("Shutdown() after Crash error = %v, want nil (idempotent)", err)
	}

	n.Revive("127.0.0.12")
	b2, err := n.Host("127.0.0.12").GossipTransport(to)
	if err != nil {
		t.Fatalf("GossipTransport(%s) after Revive error = %v, want the port free", to, err)
	}
	defer b2.Shutdown()
	if _, err := a.WriteTo([]byte("again"), to); err != nil {
		t.Fatalf("WriteTo() error = %v", err)
	}
	if p := recv(t, b2, time.Second); string(p.Buf) != "again" {
		t.Fatalf("packet = %q, want \"again\"", p.Buf)
	}
}

func TestTransportShutdownStopsDelivery(t *testing.T) {
	testkit.CheckGoroutines(t, 5*time.Second)
	n := memnet.New(1)
	n.SetDelay(time.Hour, 0) // packets stay queued until Shutdown
	a, b := gossipOn(t, n.Host("127.0.0.11")), gossipOn(t, n.Host("127.0.0.12"))
	for range 5 {
		if _, err := a.WriteTo([]byte("x"), addrOf(t, b)); err != nil {
			t.Fatalf("WriteTo() error = %v", err)
		}
	}
	if err := b.Shutdown(); err != nil {
		t.Fatalf("Shutdown() error = %v", err)
	}
	if err := b.Shutdown(); err != nil {
		t.Fatalf("second Shutdown() error = %v, want nil", err)
	}
}

func TestPacketOneWayBlock(t *testing.T) {
	n := memnet.New(1)
	a, b := gossipOn(t, n.Host("127.0.0.11")), gossipOn(t, n.Host("127.0.0.12"))
	n.Block("127.0.0.11", "127.0.0.12")
	if _, err := a.WriteTo([]byte("lost"), addrOf(t, b)); err != nil {
		t.Fatalf("WriteTo() into a block error = %v, want nil (silent loss)", err)
	}
	noPacket(t, b, 30*time.Millisecond)
	if _, err := b.WriteTo([]byte("back"), addrOf(t, a)); err != nil {
		t.Fatal(err)
	}
	if p := recv(t, a, time.Second); string(p.Buf) != "back" {
		t.Fatalf("packet the other way = %q, want \"back\"", p.Buf)
	}
	n.Heal()
	if _, err := a.WriteTo([]byte("healed"), addrOf(t, b)); err != nil {
		t.Fatal(err)
	}
	if p := recv(t, b, time.Second); string(p.Buf) != "healed" {
		t.Fatalf("packet after Heal = %q", p.Buf)
	}
}
