package memnet

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"
)

// Host is one machine on a Network, identified by its IPv4 address. It
// satisfies sessring's store.Network, so a node under test gets one Host and
// all of its traffic is subject to the Network's faults.
type Host struct {
	net *Network
	ip  string
}

// IP returns the host's address.
func (h *Host) IP() string { return h.ip }

// Listen opens a stream listener on "ip:port". The ip must be the host's,
// empty or 0.0.0.0; port 0 picks a free port (Addr reports it).
func (h *Host) Listen(addr string) (net.Listener, error) {
	a, err := h.localAddr(addr)
	if err != nil {
		return nil, opError("listen", nil, nil, err)
	}
	n := h.net
	n.mu.Lock()
	ep, err := n.bindLocked(h.ip, a.Port, func(a Addr) endpoint { return newListener(n, a) })
	n.mu.Unlock()
	if err != nil {
		return nil, opError("listen", nil, a, err)
	}
	return ep.(*listener), nil
}

// GossipTransport returns a memberlist transport bound to addr (port 0 picks
// a free port) carrying packets and streams over this Network. memberlist
// shuts it down.
func (h *Host) GossipTransport(addr string) (memberlist.NodeAwareTransport, error) {
	a, err := h.localAddr(addr)
	if err != nil {
		return nil, opError("listen", nil, nil, err)
	}
	n := h.net
	n.mu.Lock()
	ep, err := n.bindLocked(h.ip, a.Port, func(a Addr) endpoint { return newTransport(h, a) })
	n.mu.Unlock()
	if err != nil {
		return nil, opError("listen", nil, a, err)
	}
	t := ep.(*transport)
	go t.run()
	return t, nil
}

// Dial opens a stream to addr. It fails with ErrRefused if nothing listens
// there, ErrUnreachable if the destination is partitioned away or crashed,
// ErrHostDown if this host is crashed and ErrTimedOut when the drop rate
// claims the dial or a one-way Block lies between the two hosts (at once:
// memnet does not wait out the timeout). Under SetDelay it takes one round
// trip. It honours ctx.
func (h *Host) Dial(ctx context.Context, addr string) (net.Conn, error) {
	c, err := h.dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (h *Host) dial(ctx context.Context, addr string) (*conn, error) {
	ip, port, err := parseAddr(addr)
	if err != nil {
		return nil, opError("dial", nil, nil, err)
	}
	if ip == "" {
		ip = h.ip
	}
	dst := Addr{IP: ip, Port: port}
	n := h.net
	n.stats.dials.Add(1)
	if err := sleepCtx(ctx, 2*n.latency()); err != nil {
		n.stats.dialsFailed.Add(1)
		return nil, opError("dial", nil, dst, err)
	}
	c, err := n.connect(h.ip, dst)
	if err != nil {
		n.stats.dialsFailed.Add(1)
		return nil, opError("dial", nil, dst, err)
	}
	return c, nil
}

// localAddr parses a listen address, which must name this host, no host or
// the unspecified address 0.0.0.0 (all meaning this host's ip).
func (h *Host) localAddr(addr string) (Addr, error) {
	ip, port, err := parseAddr(addr)
	if err != nil {
		return Addr{}, err
	}
	if ip != "" && ip != "0.0.0.0" && ip != h.ip {
		return Addr{}, ErrAddrNotAvail
	}
	return Addr{IP: h.ip, Port: port}, nil
}

// connect establishes a stream from host src to dst.
func (n *Network) connect(src string, dst Addr) (*conn, error) {
	n.mu.Lock()
	var err error
	switch {
	case n.crashed[src]:
		err = ErrHostDown
	case n.blocked[[2]string{src, dst.IP}] || n.blocked[[2]string{dst.IP, src}]:
		err = ErrTimedOut // a handshake needs both directions; nothing answers
	case !n.reachableLocked(src, dst.IP):
		err = ErrUnreachable
	case n.dropLocked():
		err = ErrTimedOut
	case n.bound[dst] == nil:
		err = ErrRefused
	}
	if err != nil {
		n.mu.Unlock()
		return nil, err
	}
	ep := n.bound[dst]
	client, server := newConnPair(n, Addr{IP: src, Port: n.freePortLocked(src)}, dst)
	l := &link{a: client, b: server, open: 2}
	n.links[l] = struct{}{}
	client.onClose = func() { n.endClosed(l) }
	server.onClose = client.onClose
	n.mu.Unlock()
	if !ep.accept(server) {
		_ = server.Close()
		_ = client.Close()
		return nil, ErrRefused
	}
	return client, nil
}

// endClosed forgets a link once both of its ends are closed.
func (n *Network) endClosed(l *link) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if l.open--; l.open == 0 {
		delete(n.links, l)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil || d <= 0 {
		return err
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Addr is the address of a memnet endpoint. Network reports "memnet" and
// String the usual "ip:port" form, so it can be given back to Dial.
type Addr struct {
	IP   string
	Port int
}

// Network returns "memnet".
func (a Addr) Network() string { return "memnet" }

// String returns "ip:port".
func (a Addr) String() string { return net.JoinHostPort(a.IP, strconv.Itoa(a.Port)) }

// parseAddr splits "ip:port". An empty ip is returned as is (the caller
// substitutes its host's ip).
func parseAddr(s string) (ip string, port int, err error) {
	host, ps, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, err
	}
	port, err = strconv.Atoi(ps)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("memnet: bad port in %q", s)
	}
	if host != "" && !isIPv4(host) {
		return "", 0, fmt.Errorf("memnet: %q is not an IPv4 literal", host)
	}
	return host, port, nil
}

func isIPv4(s string) bool {
	ip := net.ParseIP(s)
	return ip != nil && ip.To4() != nil && ip.To4().String() == s
}
