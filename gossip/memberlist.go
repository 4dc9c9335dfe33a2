package gossip

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"slices"
	"strings"

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
	mc.Delegate, mc.Events, mc.Merge = c.meta, c.roster, c.guard
	return mc, nil
}

// newMemberlistLogger returns a *log.Logger (what memberlist accepts) whose
// lines go to l.
func newMemberlistLogger(l *slog.Logger) *log.Logger {
	return log.New(logWriter{l: l.With("component", "memberlist")}, "", 0)
}

// logWriter turns memberlist's log lines, "[LEVEL] memberlist: message",
// into slog records: [ERR] at Error, [WARN] at Warn and the rest ([INFO],
// [DEBUG], untagged) at Debug, since memberlist reports routine membership
// changes at INFO. log.Logger makes one Write call per line.
type logWriter struct {
	l *slog.Logger
}

func (w logWriter) Write(p []byte) (int, error) {
	level, msg := parseLogLine(string(p))
	ctx := context.Background()
	if w.l.Enabled(ctx, level) {
		w.l.Log(ctx, level, msg)
	}
	return len(p), nil
}

// parseLogLine splits a memberlist log line into its level and message.
func parseLogLine(line string) (slog.Level, string) {
	line = strings.TrimSpace(line)
	level := slog.LevelDebug
	for _, tag := range []struct {
		prefix string
		level  slog.Level
	}{{"[ERR]", slog.LevelError}, {"[WARN]", slog.LevelWarn}, {"[INFO]", slog.LevelDebug}, {"[DEBUG]", slog.LevelDebug}} {
		if rest, ok := strings.CutPrefix(line, tag.prefix); ok {
			level, line = tag.level, strings.TrimSpace(rest)
			break
		}
	}
	return level, strings.TrimPrefix(line, "memberlist: ")
}
