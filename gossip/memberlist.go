package gossip

import (
	"fmt"
	"log"
	"slices"

	"github.com/hashicorp/memberlist"
)

// newNetTransport binds real UDP and TCP on bind. New creates it itself,
// rather than letting memberlist do so, to own it: memberlist leaks its own
// transport when it fails after binding (e.g. no private IP to advertise).
// With port 0 the UDP socket must get the port the kernel chose for TCP,
// which another process may take in between, so that case retries a few
// times, as memberlist does.
func newNetTransport(bind string, logger *log.Logger) (*memberlist.NetTransport, error) {
	host, port, err := splitAddr(bind, false)
	if err != nil {
		return nil, fmt.Errorf("gossip: listen %s: %w", bind, err)
	}
	if host == "" {
		host = "0.0.0.0"
	}
	cfg := &memberlist.NetTransportConfig{BindAddrs: []string{host}, BindPort: port, Logger: logger}
	attempts := 1
	if port == 0 {
		attempts = 10
	}
	for range attempts {
		var t *memberlist.NetTransport
		if t, err = memberlist.NewNetTransport(cfg); err == nil {
			return t, nil
		}
	}
	return nil, fmt.Errorf("gossip: listen %s: %w", bind, err)
}

// boundPort returns the port t listens on.
func boundPort(t memberlist.NodeAwareTransport) (int, error) {
	if nt, ok := t.(*memberlist.NetTransport); ok {
		return nt.GetAutoBindPort(), nil
	}
	_, port, err := t.FinalAdvertiseAddr("", 0)
	return port, err
}

// memberlistConfig translates the Config for memberlist.
func (c *Cluster) memberlistConfig(t memberlist.NodeAwareTransport, logger *log.Logger) (*memberlist.Config, error) {
	cfg := c.cfg
	mc := memberlist.DefaultLANConfig()
	mc.Name = cfg.Name
	mc.Transport = t
	mc.Logger = logger
	port, err := boundPort(t)
	if err != nil {
		return nil, fmt.Errorf("gossip: transport address: %w", err)
	}
	mc.BindPort = port // memberlist's default port for seeds given without one
	if cfg.AdvertiseAddr != "" {
		host, aport, _ := splitAddr(cfg.AdvertiseAddr, true)
		if aport == 0 {
			aport = port
		}
		mc.AdvertiseAddr, mc.AdvertisePort = host, aport
	}
	mc.TCPTimeout = streamTimeout
	mc.ProbeInterval, mc.ProbeTimeout = cfg.ProbeInterval, cfg.ProbeTimeout
	mc.GossipInterval, mc.PushPullInterval = cfg.GossipInterval, cfg.PushPullInterval
	// Keep gossiping to a dead node (so it can refute) as long as push/pull
	// would take to reach it: memberlist's own convention.
	mc.GossipToTheDeadTime = cfg.PushPullInterval
	mc.SuspicionMult = cfg.SuspicionMult
	mc.DeadNodeReclaimTime = cfg.DeadNodeReclaimTime
	mc.SecretKey = slices.Clone(cfg.SecretKey)
	if len(cfg.OldSecretKeys) > 0 {
		keys := append([][]byte{mc.SecretKey}, cfg.OldSecretKeys...)
		ring, err := memberlist.NewKeyring(keys, mc.SecretKey)
		if err != nil {
			return nil, fmt.Errorf("gossip: keyring: %w", err)
		}
		mc.Keyring = ring
	}
	mc.Label = cfg.Label
	mc.GossipVerifyIncoming, mc.GossipVerifyOutgoing = true, true
	mc.Delegate, mc.Events, mc.Merge, mc.Alive = c.meta, c.roster, c.admit, c.admit
	return mc, nil
}
