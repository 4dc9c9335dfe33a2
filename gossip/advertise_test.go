package gossip

import (
	"errors"
	"net"
	"testing"
)

func TestAdvertiseIP(t *testing.T) {
	ip := net.ParseIP
	a := func(s string, def bool) hostAddr { return hostAddr{IP: ip(s), Default: def} }
	host := []hostAddr{
		a("127.0.0.1", false), a("::1", false), a("fe80::1", false), a("169.254.1.1", false),
	}
	with := func(more ...hostAddr) []hostAddr { return append(append([]hostAddr{}, host...), more...) }
	for _, tc := range []struct {
		name  string
		bind  string
		addrs []hostAddr
		want  string // "" means an ErrNoAdvertiseAddr
	}{
		{"specific bind is its own answer", "10.0.0.7", with(a("10.0.0.8", true)), "10.0.0.7"},
		{"loopback bind stays loopback", "127.0.0.1", host, "127.0.0.1"},
		{"v4 wildcard, one private", "0.0.0.0", with(a("10.98.0.2", false)), "10.98.0.2"},
		{"empty host is the v4 wildcard", "", with(a("10.98.0.2", false), a("fd00::2", true)), "10.98.0.2"},
		{"default route wins over a bridge", "0.0.0.0", with(a("172.17.0.1", false), a("10.1.2.3", true)), "10.1.2.3"},
		{"private default wins over public default", "0.0.0.0", with(a("203.0.113.9", true), a("10.1.2.3", true)), "10.1.2.3"},
		{"public default wins over private elsewhere", "0.0.0.0", with(a("203.0.113.9", true), a("172.17.0.1", false)), "203.0.113.9"},
		{"only a public address", "0.0.0.0", with(a("203.0.113.9", false)), "203.0.113.9"},
		{"CGNAT range counts as private", "0.0.0.0", with(a("100.64.3.4", false), a("203.0.113.9", false)), "100.64.3.4"},
		{"two equal candidates are ambiguous", "0.0.0.0", with(a("10.0.0.1", false), a("10.0.0.2", false)), ""},
		{"the same address twice is one", "0.0.0.0", with(a("10.0.0.1", false), a("10.0.0.1", false)), "10.0.0.1"},
		{"only loopback and link-local", "0.0.0.0", host, ""},
		{"v6 wildcard prefers v6", "::", with(a("10.0.0.1", true), a("fd00::5", false)), "fd00::5"},
		{"v6 wildcard falls back to v4", "::", with(a("10.0.0.1", false)), "10.0.0.1"},
		{"v6 default route wins", "::", with(a("fd00::5", false), a("2001:db8::5", true)), "2001:db8::5"},
		{"v4 wildcard ignores v6", "0.0.0.0", with(a("fd00::5", true)), ""},
		{"ambiguous v6 falls back to v4", "::", with(a("2001:db8::5", true), a("2001:db8::6", true), a("10.0.0.1", true)), "10.0.0.1"},
		{"ambiguous v6 and no v4", "::", with(a("2001:db8::5", true), a("2001:db8::6", true)), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := advertiseIP(ip(tc.bind), tc.addrs)
			if tc.want == "" {
				if !errors.Is(err, ErrNoAdvertiseAddr) {
					t.Fatalf("advertiseIP(%q) = %v, %v; want ErrNoAdvertiseAddr", tc.bind, got, err)
				}
				return
			}
			if err != nil || !got.Equal(ip(tc.want)) {
				t.Fatalf("advertiseIP(%q) = %v, %v; want %s", tc.bind, got, err, tc.want)
			}
		})
	}
}

func TestCompleteMeta(t *testing.T) {
	c := &Cluster{advertisedIP: net.ParseIP("10.98.0.3")}
	for in, want := range map[string]string{
		"0.0.0.0:4000":   "10.98.0.3:4000",
		"[::]:4000":      "10.98.0.3:4000",
		":4000":          "10.98.0.3:4000",
		"10.98.0.9:4000": "10.98.0.9:4000",
		"":               "",
	} {
		if got := c.completeMeta(Meta{RPCAddr: in}).RPCAddr; got != want {
			t.Errorf("completeMeta(%q) = %q, want %q", in, got, want)
		}
	}
}
