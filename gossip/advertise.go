package gossip

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"

	"github.com/e5b1d45c/sessring/internal/version"
	"github.com/hashicorp/memberlist"
)

// A node bound to the unspecified address (0.0.0.0, [::] or ":port") must
// still tell its peers one address they can reach, for gossip and for the
// peer traffic whose address rides in Meta. memberlist alone would advertise
// "::" for an IPv6 wildcard, and finds its private IP by running `ip route`,
// which a distroless container does not have. So the choice is made here,
// from the interfaces and the kernel's default routes, by a pure rule.

// hostAddr is one address of this host, as advertiseIP sees it.
type hostAddr struct {
	IP net.IP
	// Default is true when IP's interface carries a default route of IP's
	// family: the interface traffic to other hosts normally leaves by.
	Default bool
}

// advertiseIP picks the address to advertise for a node bound to bind.
// A specific bind address is its own answer. For a wildcard, candidates are
// the addresses that other hosts could route to (not loopback, link-local,
// multicast or unspecified) of the bind's family; [::] accepts IPv4 too
// (Linux sockets bound to [::] are dual-stack) but prefers IPv6. Among them
// it prefers, in order: a private address on a default-route interface, any
// address on one, a private address, any address. Exactly one address must
// be best: several equally good ones are an error rather than a guess, since
// a wrong guess makes every peer call fail.
func advertiseIP(bind net.IP, addrs []hostAddr) (net.IP, error) {
	if bind != nil && !bind.IsUnspecified() {
		return bind, nil
	}
	v6 := bind != nil && bind.To4() == nil
	families := []bool{false} // IPv6?
	if v6 {
		families = []bool{true, false}
	}
	var ambiguous error
	for _, wantV6 := range families {
		var cands []hostAddr
		for _, a := range addrs {
			if routable(a.IP) && (a.IP.To4() == nil) == wantV6 {
				cands = append(cands, a)
			}
		}
		if len(cands) == 0 {
			continue
		}
		for _, tier := range []func(hostAddr) bool{
			func(a hostAddr) bool { return a.Default && private(a.IP) },
			func(a hostAddr) bool { return a.Default },
			func(a hostAddr) bool { return private(a.IP) },
			func(hostAddr) bool { return true },
		} {
			best := distinct(cands, tier)
			switch {
			case len(best) == 1:
				return best[0], nil
			case len(best) > 1 && ambiguous == nil:
				// IPv6 hosts often carry several global addresses
				// (temporary ones beside the stable one): IPv4 may still
				// decide.
				ambiguous = fmt.Errorf("%w: several addresses could be advertised (%s): set AdvertiseAddr to the one other nodes reach", ErrNoAdvertiseAddr, joinIPs(best))
			}
			if len(best) > 1 {
				break
			}
		}
	}
	if ambiguous != nil {
		return nil, ambiguous
	}
	return nil, fmt.Errorf("%w: bound to %s and no address of this host is reachable from others: set AdvertiseAddr", ErrNoAdvertiseAddr, bindString(bind))
}

// routable reports whether other hosts could reach ip.
func routable(ip net.IP) bool {
	return ip != nil && !ip.IsLoopback() && !ip.IsUnspecified() && !ip.IsMulticast() &&
		!ip.IsLinkLocalUnicast() && !ip.IsLinkLocalMulticast()
}

// cgnat is RFC 6598's shared address space, used as private addressing by
// some container networks.
var cgnat = net.IPNet{IP: net.IPv4(100, 64, 0, 0), Mask: net.CIDRMask(10, 32)}

func private(ip net.IP) bool { return ip.IsPrivate() || cgnat.Contains(ip) }

func distinct(cands []hostAddr, keep func(hostAddr) bool) []net.IP {
	var out []net.IP
	for _, a := range cands {
		if keep(a) && !slices.ContainsFunc(out, a.IP.Equal) {
			out = append(out, a.IP)
		}
	}
	return out
}

func joinIPs(ips []net.IP) string {
	s := make([]string, len(ips))
	for i, ip := range ips {
		s[i] = ip.String()
	}
	return strings.Join(s, ", ")
}

func bindString(ip net.IP) string {
	if ip == nil {
		return "all interfaces"
	}
	return ip.String()
}

// hostAddrs lists this host's interface addresses, marking those on an
// interface with a default route (known on Linux; elsewhere none is marked).
func hostAddrs() ([]hostAddr, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	def4, def6 := defaultRouteIfaces()
	var out []hostAddr
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			isV4 := ipn.IP.To4() != nil
			out = append(out, hostAddr{IP: ipn.IP, Default: (isV4 && def4[ifc.Name]) || (!isV4 && def6[ifc.Name])})
		}
	}
	return out, nil
}

// defaultRouteIfaces reads the interfaces that carry a default route from
// Linux's /proc/net/route and /proc/net/ipv6_route; elsewhere both are empty.
func defaultRouteIfaces() (v4, v6 map[string]bool) {
	v4 = scanRoutes("/proc/net/route", func(f []string) (string, bool) {
		// Iface Destination Gateway Flags RefCnt Use Metric Mask ...
		return f[0], len(f) > 7 && f[1] == "00000000" && f[7] == "00000000"
	})
	v6 = scanRoutes("/proc/net/ipv6_route", func(f []string) (string, bool) {
		// dest destlen src srclen nexthop metric refcnt use flags iface
		return f[len(f)-1], len(f) >= 10 && strings.Trim(f[0], "0") == "" && f[1] == "00" && f[len(f)-1] != "lo"
	})
	return v4, v6
}

func scanRoutes(path string, isDefault func([]string) (string, bool)) map[string]bool {
	out := map[string]bool{}
	f, err := os.Open(path)
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) > 0 {
			if name, ok := isDefault(fields); ok {
				out[name] = true
			}
		}
	}
	return out
}

// advertise settles the address this node advertises (into mc, for
// memberlist) and completes the initial Meta with it. A node bound to a
// wildcard gets the address advertiseIP picks; a given AdvertiseAddr or
// Transport decides for itself.
func (c *Cluster) advertise(t memberlist.NodeAwareTransport, mc *memberlist.Config) error {
	if mc.AdvertiseAddr == "" && c.cfg.Transport == nil {
		host, _, _ := splitAddr(c.cfg.BindAddr, false) // checked by Validate
		addrs, err := hostAddrs()
		if err != nil {
			return fmt.Errorf("gossip: list this host's addresses: %w", err)
		}
		ip, err := advertiseIP(net.ParseIP(host), addrs)
		if err != nil {
			return err
		}
		mc.AdvertiseAddr, mc.AdvertisePort = ip.String(), mc.BindPort
	}
	ip, _, err := t.FinalAdvertiseAddr(mc.AdvertiseAddr, mc.AdvertisePort)
	if err != nil {
		return fmt.Errorf("gossip: advertise address: %w", err)
	}
	c.advertisedIP = ip
	m := c.completeMeta(c.cfg.Meta)
	b, err := m.MarshalBinary()
	if err != nil {
		return fmt.Errorf("gossip: %w", err)
	}
	c.meta.set(m, b)
	return nil
}

// completeMeta gives an RPCAddr with a wildcard or empty host this node's
// advertised IP, so that peers never dial an address that means "myself"
// to them, and metadata without protocol versions this build's.
func (c *Cluster) completeMeta(m Meta) Meta {
	if m.MinVersion == 0 && m.MaxVersion == 0 {
		m.MinVersion, m.MaxVersion = version.Min, version.Max
	}
	host, port, err := net.SplitHostPort(m.RPCAddr)
	if err != nil || c.advertisedIP == nil {
		return m
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		m.RPCAddr = net.JoinHostPort(c.advertisedIP.String(), port)
	}
	return m
}
