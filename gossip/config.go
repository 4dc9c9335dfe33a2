package gossip

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"
)

// Config configures a Cluster. Zero values mean "use the default" (see
// DefaultConfig); only Name and, without a Transport, a usable BindAddr are
// required.
type Config struct {
	// Name identifies the node; required and unique in the cluster (at most
	// 128 bytes, since it rides in every gossip packet).
	Name string

	// BindAddr is the gossip host:port, used for both UDP and TCP when
	// Transport is nil; port 0 picks a free port. The host must be an IP
	// literal or empty (all interfaces). Default "0.0.0.0:7946". Ignored when
	// Transport is set: a transport comes already bound.
	BindAddr string

	// AdvertiseAddr is the "ip" or "ip:port" peers use to reach this node,
	// for NAT and containers. Without a port (or with port 0) the bound port
	// is advertised. Default: the bound address; for a wildcard bind
	// (0.0.0.0, [::] or ":port") the one address of this host that other
	// hosts can reach, preferring the interface of the default route and
	// private addresses ([::] prefers IPv6). When that choice is not unique
	// or there is none, New fails with ErrNoAdvertiseAddr: set this field.
	// The same host is advertised for Meta.RPCAddr when its host is a
	// wildcard.
	AdvertiseAddr string

	// Join lists seed gossip addresses ("host:port"; without a port, this
	// node's gossip port is assumed); empty starts a new cluster. Joining
	// succeeds when one seed accepts this node.
	Join []string

	// JoinTimeout is how long New keeps retrying the seeds before failing
	// with ErrJoin. Default 30s: long enough for a whole cluster to be
	// started at once in any order. A seed that swallows connections can
	// stretch it by one stream timeout (2s).
	JoinTimeout time.Duration

	// JoinRetry is the pause between join attempts, with ±25% jitter so
	// nodes started together do not retry in lockstep. Default 200ms.
	JoinRetry time.Duration

	// SecretKey, when set (16, 24 or 32 bytes: AES-128/192/256-GCM),
	// encrypts and authenticates all gossip. Unencrypted traffic and traffic
	// under another key are rejected, in both directions. Default: none.
	SecretKey []byte

	// OldSecretKeys are earlier keys still accepted for incoming gossip
	// (memberlist's keyring): rotate a key by adding the new one here on
	// every node, then making it SecretKey everywhere (the old one moves
	// here), then dropping the old one. Each must be 16, 24 or 32 bytes.
	OldSecretKeys [][]byte

	// Label, when set, is memberlist's label: it is sent with every packet
	// and stream (and authenticated with the key), and gossip carrying
	// another label or none is refused, so two clusters that share a key do
	// not merge. At most 255 bytes. Default: none.
	Label string

	// Meta is this node's initial metadata (see SetMeta to change it).
	Meta Meta

	// Transport carries gossip; nil means real UDP and TCP on BindAddr.
	// New takes ownership: it is shut down by Close, or by New on failure.
	Transport memberlist.NodeAwareTransport

	// Failure detection and dissemination, tuned for one LAN or data centre
	// where round trips are well under a millisecond, so faster than
	// memberlist's LAN defaults (1s probes, 500ms timeout, 30s push/pull):
	//
	//   - ProbeInterval (default 500ms): each node probes one member per
	//     interval.
	//   - ProbeTimeout (default 250ms): wait for an ack before indirect
	//     probes; must be below ProbeInterval.
	//   - GossipInterval (default 100ms): spread queued updates.
	//   - PushPullInterval (default 5s): full state exchange with one random
	//     member, repairing anything gossip missed.
	//   - SuspicionMult (default 4): a suspect is declared dead after
	//     SuspicionMult × max(1, log10(members)) × ProbeInterval, i.e. 2s
	//     below ten members (up to 6× that without confirmations from
	//     other members).
	//
	// A crashed node thus leaves Members after about 2.5–3s.
	ProbeInterval, ProbeTimeout, GossipInterval, PushPullInterval time.Duration
	SuspicionMult                                                 int

	// DeadNodeReclaimTime is how long after a node was declared dead its
	// Name may be claimed by a process at another address (memberlist
	// otherwise rejects the name forever, until the dead entry is reaped).
	// It lets a restarted process whose address changed (a rescheduled
	// container) rejoin within seconds, while the pause gives the death
	// time to spread so that no member still routes to the old address when
	// the new one appears. New waits until the name is released. Default 2s.
	DeadNodeReclaimTime time.Duration

	// Logger receives memberlist's log lines: [ERR] at Error, [WARN] at
	// Warn, everything else at Debug. Default slog.Default().
	Logger *slog.Logger
}

// maxNameLen bounds Config.Name.
const maxNameLen = 128

// streamTimeout bounds memberlist's stream operations (push/pull, joins,
// TCP fallback probes).
const streamTimeout = 2 * time.Second

// DefaultConfig returns the defaults described on Config. Name must still
// be set.
func DefaultConfig() Config {
	return Config{
		BindAddr:            "0.0.0.0:7946",
		JoinTimeout:         30 * time.Second,
		JoinRetry:           200 * time.Millisecond,
		ProbeInterval:       500 * time.Millisecond,
		ProbeTimeout:        250 * time.Millisecond,
		GossipInterval:      100 * time.Millisecond,
		PushPullInterval:    5 * time.Second,
		SuspicionMult:       4,
		DeadNodeReclaimTime: 2 * time.Second,
	}
}

// withDefaults returns c with zero fields replaced by the defaults.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.BindAddr == "" && c.Transport == nil {
		c.BindAddr = d.BindAddr
	}
	setDur(&c.JoinTimeout, d.JoinTimeout)
	setDur(&c.JoinRetry, d.JoinRetry)
	setDur(&c.ProbeInterval, d.ProbeInterval)
	setDur(&c.ProbeTimeout, d.ProbeTimeout)
	setDur(&c.GossipInterval, d.GossipInterval)
	setDur(&c.PushPullInterval, d.PushPullInterval)
	setDur(&c.DeadNodeReclaimTime, d.DeadNodeReclaimTime)
	if c.SuspicionMult == 0 {
		c.SuspicionMult = d.SuspicionMult
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func setDur(p *time.Duration, def time.Duration) {
	if *p == 0 {
		*p = def
	}
}

// Validate reports the first problem with c (after defaults are applied),
// wrapping ErrBadConfig.
func (c Config) Validate() error {
	c = c.withDefaults()
	for _, check := range []func() error{c.checkName, c.checkAddrs, c.checkTimings, c.checkKeyAndMeta} {
		if err := check(); err != nil {
			return fmt.Errorf("%w: %w", ErrBadConfig, err)
		}
	}
	return nil
}

func (c Config) checkName() error {
	switch {
	case c.Name == "":
		return fmt.Errorf("Name is required")
	case len(c.Name) > maxNameLen:
		return fmt.Errorf("Name is %d bytes, limit %d", len(c.Name), maxNameLen)
	}
	return nil
}

func (c Config) checkAddrs() error {
	if c.Transport == nil {
		if _, _, err := splitAddr(c.BindAddr, false); err != nil {
			return fmt.Errorf("BindAddr: %w", err)
		}
	}
	if c.AdvertiseAddr != "" {
		if _, _, err := splitAddr(c.AdvertiseAddr, true); err != nil {
			return fmt.Errorf("AdvertiseAddr: %w", err)
		}
	}
	for i, s := range c.Join {
		if s == "" {
			return fmt.Errorf("Join[%d] is empty", i)
		}
	}
	return nil
}

func (c Config) checkTimings() error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"JoinTimeout", c.JoinTimeout}, {"JoinRetry", c.JoinRetry},
		{"ProbeInterval", c.ProbeInterval}, {"ProbeTimeout", c.ProbeTimeout},
		{"GossipInterval", c.GossipInterval}, {"PushPullInterval", c.PushPullInterval},
		{"DeadNodeReclaimTime", c.DeadNodeReclaimTime},
	} {
		if d.v < 0 {
			return fmt.Errorf("%s is negative (%v)", d.name, d.v)
		}
	}
	switch {
	case c.ProbeTimeout >= c.ProbeInterval:
		return fmt.Errorf("ProbeTimeout %v must be below ProbeInterval %v", c.ProbeTimeout, c.ProbeInterval)
	case c.SuspicionMult < 1:
		return fmt.Errorf("SuspicionMult is %d, want at least 1", c.SuspicionMult)
	}
	return nil
}

func (c Config) checkKeyAndMeta() error {
	switch len(c.SecretKey) {
	case 0, 16, 24, 32:
	default:
		return fmt.Errorf("SecretKey is %d bytes, want 16, 24 or 32", len(c.SecretKey))
	}
	if len(c.SecretKey) > 0 && allZero(c.SecretKey) {
		return fmt.Errorf("SecretKey is all zero bytes; use random bytes")
	}
	if len(c.OldSecretKeys) > 0 && len(c.SecretKey) == 0 {
		return fmt.Errorf("OldSecretKeys need a SecretKey")
	}
	for i, k := range c.OldSecretKeys {
		if err := memberlist.ValidateKey(k); err != nil {
			return fmt.Errorf("OldSecretKeys[%d]: %w", i, err)
		}
		if allZero(k) {
			return fmt.Errorf("OldSecretKeys[%d] is all zero bytes", i)
		}
	}
	if len(c.Label) > memberlist.LabelMaxSize {
		return fmt.Errorf("Label is %d bytes, limit %d", len(c.Label), memberlist.LabelMaxSize)
	}
	if _, err := c.Meta.MarshalBinary(); err != nil {
		return fmt.Errorf("Meta: %w", err)
	}
	return nil
}

// splitAddr parses "ip:port", or "ip" when hostOnly is allowed (port 0). The
// ip must be a literal (memberlist binds and advertises net.IPs); it may be
// empty unless hostOnly (an advertised address needs a host).
func splitAddr(s string, hostOnly bool) (string, int, error) {
	host, ps, err := net.SplitHostPort(s)
	if err != nil && hostOnly {
		host, ps, err = s, "0", nil
	}
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port in %q", s)
	}
	if (host != "" || hostOnly) && net.ParseIP(host) == nil {
		return "", 0, fmt.Errorf("host in %q is not an IP address", s)
	}
	return host, port, nil
}

// allZero reports whether b holds only zero bytes: a key buffer that was
// never filled, identical on every cluster that made the same mistake.
func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}
