package memnet_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/internal/memnet"
	"github.com/e5b1d45c/sessring/internal/testkit"
)

func hosts(n *memnet.Network) (a, b *memnet.Host) {
	return n.Host("127.0.0.11"), n.Host("127.0.0.12")
}

// streamOn opens a stream between two fresh hosts of n.
func streamOn(t *testing.T, n *memnet.Network) (client, server net.Conn) {
	t.Helper()
	a, b := hosts(n)
	return pair(t, a, b)
}

func TestStreamAddrs(t *testing.T) {
	n := memnet.New(1)
	client, server := streamOn(t, n)
	if got, want := client.RemoteAddr().String(), server.LocalAddr().String(); got != want {
		t.Errorf("client RemoteAddr = %s, want server LocalAddr %s", got, want)
	}
	if got, want := server.RemoteAddr().String(), client.LocalAddr().String(); got != want {
		t.Errorf("server RemoteAddr = %s, want client LocalAddr %s", got, want)
	}
	if got := client.LocalAddr().Network(); got != "memnet" {
		t.Errorf("LocalAddr().Network() = %q, want memnet", got)
	}
}

func TestStreamOrderUnderJitter(t *testing.T) {
	n := memnet.New(7)
	n.SetDelay(time.Millisecond, 3*time.Millisecond)
	client, server := streamOn(t, n)
	var want bytes.Buffer
	for i := range 300 {
		want.Write(bytes.Repeat([]byte{byte(i)}, 1+i%17))
	}
	w := async(func() (int, error) {
		sent := 0
		for rest := want.Bytes(); len(rest) > 0; {
			k := min(len(rest), 1+len(rest)%23)
			if _, err := client.Write(rest[:k]); err != nil {
				return sent, err
			}
			sent += k
			rest = rest[k:]
		}
		return sent, client.Close()
	})
	got, err := io.ReadAll(server)
	if err != nil {
		t.Fatalf("ReadAll() error = %v", err)
	}
	if r := await(t, w, 5*time.Second); r.err != nil {
		t.Fatalf("writer error = %v", r.err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("received %d bytes differing from the %d sent, want identical order", len(got), want.Len())
	}
}

func TestStreamDelay(t *testing.T) {
	n := memnet.New(1)
	client, server := streamOn(t, n)
	n.SetDelay(40*time.Millisecond, 0)
	start := time.Now()
	if _, err := client.Write([]byte("x")); err != nil {
		t.Fatalf("Write() error = %v", err)
	}
	if d := time.Since(start); d > 20*time.Millisecond {
		t.Errorf("Write() took %v, want it not to wait for the delay", d)
	}
	buf := make([]byte, 1)
	if _, err := server.Read(buf); err != nil {
		t.Fatalf("Read() error = %v", err)
	}
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Errorf("byte arrived after %v, want >= 40ms", d)
	}
}

// isTimeout reports whether err is a deadline error as net.Conn documents.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() && errors.Is(err, os.ErrDeadlineExceeded)
}

func TestReadDeadline(t *testing.T) {
	tests := []struct {
		name    string
		arm     func(c net.Conn) // before Read
		during  func(c net.Conn) // while Read blocks
		timeout bool
	}{
		{"past deadline fails at once", func(c net.Conn) { _ = c.SetReadDeadline(time.Now().Add(-time.Second)) }, nil, true},
		{"future deadline expires", func(c net.Conn) { _ = c.SetReadDeadline(time.Now().Add(30 * time.Millisecond)) }, nil, true},
		{"SetDeadline covers reads", func(c net.Conn) { _ = c.SetDeadline(time.Now().Add(30 * time.Millisecond)) }, nil, true},
		{"deadline moved into the past wakes Read", nil, func(c net.Conn) { _ = c.SetReadDeadline(time.Unix(1, 0)) }, true},
		{"cleared deadline lets data through", func(c net.Conn) {
			_ = c.SetReadDeadline(time.Now().Add(-time.Second))
			_ = c.SetReadDeadline(time.Time{})
		}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, server := streamOn(t, memnet.New(1))
			if tt.arm != nil {
				tt.arm(server)
			}
			r := async(func() (int, error) { return server.Read(make([]byte, 8)) })
			if tt.during != nil {
				tt.during(server)
			}
			if !tt.timeout {
				if _, err := client.Write([]byte("hi")); err != nil {
					t.Fatalf("Write() error = %v", err)
				}
			}
			got := await(t, r, 2*time.Second)
			if tt.timeout && !isTimeout(got.err) {
				t.Fatalf("Read() error = %v, want a timeout wrapping os.ErrDeadlineExceeded", got.err)
			}
			if !tt.timeout && (got.err != nil || got.n != 2) {
				t.Fatalf("Read() = %d, %v, want 2, nil", got.n, got.err)
			}
		})
	}
}

func TestBackpressure(t *testing.T) {
	n := memnet.New(1)
	client, server := streamOn(t, n)
	data := bytes.Repeat([]byte("0123456789abcdef"), 2*memnet.StreamBuffer/16)
	w := async(func() (int, error) { return client.Write(data) })
	testkit.Eventually(t, 2*time.Second, "the buffer to fill", func() bool {
		return n.Stats().StreamBytes == memnet.StreamBuffer
	})
	select {
	case r := <-w:
		t.Fatalf("Write(%d bytes) = %d, %v with no reader, want it to block at %d", len(data), r.n, r.err, memnet.StreamBuffer)
	default:
	}
	got := make([]byte, len(data))
	if _, err := io.ReadFull(server, got); err != nil {
		t.Fatalf("ReadFull() error = %v", err)
	}
	if r := await(t, w, 2*time.Second); r.n != len(data) || r.err != nil {
		t.Fatalf("Write() = %d, %v, want %d, nil", r.n, r.err, len(data))
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("read data differs from written data")
	}
}

func TestWriteDeadlineUnderBackpressure(t *testing.T) {
	client, _ := streamOn(t, memnet.New(1))
	_ = client.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	nw, err := client.Write(make([]byte, memnet.StreamBuffer+10))
	if !isTimeout(err) {
		t.Fatalf("Write() error = %v, want a timeout", err)
	}
	if nw != memnet.StreamBuffer {
		t.Errorf("Write() = %d, want %d (what the buffer holds)", nw, memnet.StreamBuffer)
	}
}

func TestClose(t *testing.T) {
	client, server := streamOn(t, memnet.New(1))
	if _, err := client.Write([]byte("bye")); err != nil {
		t.Fatalf("Write() error = %v", err)
	}
	if err := client.Close(); err != nil {
		t.Fatalf("Close() error = %v", err)
	}
	got, err := io.ReadAll(server)
	if err != nil || string(got) != "bye" {
		t.Fatalf("peer ReadAll() = %q, %v, want \"bye\", nil (data then EOF)", got, err)
	}
	if _, err := server.Write([]byte("x")); !errors.Is(err, memnet.ErrBrokenPipe) {
		t.Errorf("peer Write after Close error = %v, want %v", err, memnet.ErrBrokenPipe)
	}
	if _, err := client.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Read after Close error = %v, want net.ErrClosed", err)
	}
	if _, err := client.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write after Close error = %v, want net.ErrClosed", err)
	}
	if err := client.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Close() error = %v, want net.ErrClosed", err)
	}
}

// peerClosed asks a memnet conn whether its peer is gone, as rpc's
// connection pool does.
func peerClosed(t *testing.T, c net.Conn) bool {
	t.Helper()
	pc, ok := c.(interface{ PeerClosed() bool })
	if !ok {
		t.Fatalf("%T has no PeerClosed method", c)
	}
	return pc.PeerClosed()
}

func TestPeerClosed(t *testing.T) {
	n := memnet.New(1)
	client, server := streamOn(t, n)
	if peerClosed(t, server) {
		t.Fatal("PeerClosed() = true on a live stream")
	}
	client.Write([]byte("bye"))
	client.Close()
	if peerClosed(t, server) {
		t.Error("PeerClosed() = true while unread data remains, want false (a read would succeed)")
	}
	io.ReadAll(server)
	if !peerClosed(t, server) {
		t.Error("PeerClosed() = false after the peer closed and its data was read")
	}
	if !peerClosed(t, client) {
		t.Error("PeerClosed() = false on a conn closed locally")
	}

	a, b := hosts(n)
	ab, ba := pair(t, a, b)
	n.Partition([]string{a.IP()}, []string{b.IP()})
	if !peerClosed(t, ab) || !peerClosed(t, ba) {
		t.Error("PeerClosed() = false on a stream broken by a partition")
	}
}

func TestCloseWakesBlockedRead(t *testing.T) {
	client, _ := streamOn(t, memnet.New(1))
	r := async(func() (int, error) { return client.Read(make([]byte, 1)) })
	_ = client.Close()
	if got := await(t, r, 2*time.Second); !errors.Is(got.err, net.ErrClosed) {
		t.Fatalf("blocked Read after Close error = %v, want net.ErrClosed", got.err)
	}
}

func TestPartitionBreaksStreams(t *testing.T) {
	n := memnet.New(1)
	a, b := hosts(n)
	c := n.Host("127.0.0.13")
	ab, ba := pair(t, a, b)
	ac, ca := pair(t, a, c)
	blocked := async(func() (int, error) { return ba.Read(make([]byte, 1)) })
	n.Partition([]string{a.IP(), c.IP()}, []string{b.IP()})
	if got := await(t, blocked, 2*time.Second); !errors.Is(got.err, memnet.ErrReset) {
		t.Errorf("blocked Read across the partition error = %v, want %v", got.err, memnet.ErrReset)
	}
	if _, err := ab.Write([]byte("x")); !errors.Is(err, memnet.ErrReset) {
		t.Errorf("Write across the partition error = %v, want %v", err, memnet.ErrReset)
	}
	if _, err := ac.Write([]byte("x")); err != nil {
		t.Fatalf("Write within a group error = %v, want nil", err)
	}
	if _, err := io.ReadFull(ca, make([]byte, 1)); err != nil {
		t.Fatalf("Read within a group error = %v, want nil", err)
	}
	if got := n.Stats().LinksBroken; got != 1 {
		t.Errorf("Stats().LinksBroken = %d, want 1", got)
	}
	n.Heal()
	if _, err := ab.Write([]byte("x")); !errors.Is(err, memnet.ErrReset) {
		t.Errorf("Write on a broken stream after Heal error = %v, want it to stay broken", err)
	}
	pair(t, a, b) // new streams work again
}

func TestCrash(t *testing.T) {
	n := memnet.New(1)
	a, b := hosts(n)
	l := listen(t, b)
	client, err := a.Dial(t.Context(), l.Addr().String())
	if err != nil {
		t.Fatalf("Dial() error = %v", err)
	}
	defer client.Close()
	server, err := l.Accept()
	if err != nil {
		t.Fatalf("Accept() error = %v", err)
	}
	if _, err := server.Write([]byte("last words")); err != nil {
		t.Fatalf("Write() error = %v", err)
	}
	n.Crash(b.IP())

	if got, err := io.ReadAll(client); err != nil || string(got) != "last words" {
		t.Errorf("peer ReadAll() after Crash = %q, %v, want \"last words\", nil (then EOF)", got, err)
	}
	if _, err := client.Write([]byte("x")); err == nil {
		t.Errorf("peer Write after Crash error = nil, want an error")
	}
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept() on crashed host error = %v, want net.ErrClosed", err)
	}
	if _, err := b.Listen(l.Addr().String()); !errors.Is(err, memnet.ErrHostDown) {
		t.Errorf("Listen() on crashed host error = %v, want %v", err, memnet.ErrHostDown)
	}
	if _, err := a.Dial(t.Context(), l.Addr().String()); !errors.Is(err, memnet.ErrUnreachable) {
		t.Errorf("Dial() to crashed host error = %v, want %v", err, memnet.ErrUnreachable)
	}

	n.Revive(b.IP())
	l2, err := b.Listen(l.Addr().String())
	if err != nil {
		t.Fatalf("Listen(%s) after Revive error = %v, want the port free again", l.Addr(), err)
	}
	_ = l2.Close()
}

func TestStreamsLeaveNoGoroutines(t *testing.T) {
	testkit.CheckGoroutines(t, 5*time.Second)
	n := memnet.New(1)
	n.SetDelay(time.Millisecond, time.Millisecond)
	client, server := streamOn(t, n)
	_ = server.SetReadDeadline(time.Now().Add(time.Hour))
	if _, err := client.Write([]byte("x")); err != nil {
		t.Fatalf("Write() error = %v", err)
	}
	if _, err := server.Read(make([]byte, 1)); err != nil {
		t.Fatalf("Read() error = %v", err)
	}
}

// TestBlockIsOneWay: a one-way block holds up the blocked direction of an
// established stream (delivered at Heal, as TCP retransmits), lets the other
// direction flow, and makes new streams between the two fail to dial.
func TestBlockIsOneWay(t *testing.T) {
	n := memnet.New(1)
	a, b := hosts(n)
	ab, ba := pair(t, a, b)
	n.Block(a.IP(), b.IP())
	if _, err := ab.Write([]byte("x")); err != nil {
		t.Fatalf("Write into the blocked direction error = %v, want it queued", err)
	}
	ba.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := ba.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Read of the blocked direction error = %v, want a timeout", err)
	}
	ba.SetReadDeadline(time.Time{})
	if _, err := ba.Write([]byte("y")); err != nil {
		t.Fatalf("Write the other way error = %v", err)
	}
	if _, err := io.ReadFull(ab, make([]byte, 1)); err != nil {
		t.Fatalf("Read the other way error = %v, want the byte", err)
	}
	for _, d := range []struct{ from, to *memnet.Host }{{a, b}, {b, a}} {
		l := listen(t, d.to)
		if _, err := d.from.Dial(t.Context(), l.Addr().String()); !errors.Is(err, memnet.ErrTimedOut) {
			t.Errorf("dial %s -> %s across a one-way block error = %v, want %v", d.from.IP(), d.to.IP(), err, memnet.ErrTimedOut)
		}
	}
	blocked := async(func() (int, error) { return io.ReadFull(ba, make([]byte, 1)) })
	n.Heal()
	if got := await(t, blocked, 2*time.Second); got.err != nil || got.n != 1 {
		t.Errorf("held-up byte after Heal: %d, %v", got.n, got.err)
	}
	pair(t, a, b)
}

// TestBlockHoldsOnlyWhatHadNotArrived: bytes that had arrived before a block
// stay readable, and a close by the blocked side does not cross the block
// (the other end can still write, into the void, and sees no end) until
// Heal.
func TestBlockHoldsOnlyWhatHadNotArrived(t *testing.T) {
	n := memnet.New(1)
	a, b := hosts(n)
	ab, ba := pair(t, a, b)
	if _, err := ab.Write([]byte("early")); err != nil {
		t.Fatal(err)
	}
	n.Block(a.IP(), b.IP())
	ab.Write([]byte("late"))
	buf := make([]byte, 5)
	if _, err := io.ReadFull(ba, buf); err != nil || string(buf) != "early" {
		t.Fatalf("bytes that arrived before the block: %q, %v", buf, err)
	}
	ab.Close()
	if pc := ba.(interface{ PeerClosed() bool }); pc.PeerClosed() {
		t.Error("PeerClosed across the block = true, want the close held up")
	}
	if _, err := ba.Write([]byte("void")); err != nil {
		t.Errorf("Write to a peer whose close is held up error = %v, want nil", err)
	}
	n.Heal()
	rest, err := io.ReadAll(ba)
	if err != nil || string(rest) != "late" {
		t.Errorf("after Heal: %q, %v; want the held-up bytes, then EOF", rest, err)
	}
}

// TestBlockAndHealRacing: overlapping Block and Heal calls leave the network
// in one of the two states, never a mix (a stream held up with no block in
// force, or a block whose streams flow).
func TestBlockAndHealRacing(t *testing.T) {
	testkit.SkipShort(t, "races faults against traffic for seconds")
	n := memnet.New(1)
	a, b := hosts(n)
	ab, ba := pair(t, a, b)
	l := listen(t, b)
	for i := range 100 {
		done := make(chan struct{})
		go func() { n.Block(a.IP(), b.IP()); close(done) }()
		n.Heal()
		<-done
		c, dialErr := a.Dial(t.Context(), l.Addr().String())
		if dialErr == nil {
			c.Close()
		}
		blocked := dialErr != nil
		ab.Write([]byte{byte(i)})
		ba.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		_, readErr := ba.Read(make([]byte, 1))
		if held := readErr != nil; held != blocked {
			t.Fatalf("round %d: dial error %v but read error %v: a mixed state", i, dialErr, readErr)
		}
		n.Heal()
		ba.SetReadDeadline(time.Time{})
		if blocked {
			io.ReadFull(ba, make([]byte, 1))
		}
	}
}
