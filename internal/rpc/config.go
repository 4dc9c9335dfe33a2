package rpc

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"time"
)

// Dialer opens a connection to a peer. It must honour ctx (cancellation and
// deadline); ctx bounds only the dial, so the connection must outlive it.
// Tests plug in in-memory networks here.
type Dialer func(ctx context.Context, addr string) (net.Conn, error)

// Config configures a Client or a Server. Zero fields mean "use the default";
// DefaultConfig returns the defaults filled in. One Config is normally shared
// by the Client and the Server of a node.
type Config struct {
	// Dial opens client connections. Default: TCP via net.Dialer. The
	// connections must support read and write deadlines: a caller waits
	// for its reply with a read deadline, and is interrupted through it.
	Dial Dialer

	// TLS secures every connection when non-nil (see package peertls for a
	// configuration derived from a shared secret). nil means plaintext;
	// whether that is acceptable is the caller's decision. For a client
	// config without ServerName or InsecureSkipVerify, the dialled host name
	// is used as ServerName. Records go out at full size from the first
	// frame (DynamicRecordSizingDisabled, set on a copy).
	TLS *tls.Config

	// ConnsPerPeer is the number of persistent connections kept per remote
	// address. Default 2: requests are multiplexed over the first
	// connection, where concurrent ones share system calls, and go to the
	// next while a frame larger than its buffer (16 KiB) is on the move on
	// it, so one large frame does not stall every call to that peer; the
	// connection count stays small on big clusters.
	ConnsPerPeer int

	// MaxFrame is the largest frame body accepted or sent, in bytes. Default
	// 16 MiB, well above any session. An incoming frame claiming more closes
	// its connection without allocating the claimed size.
	MaxFrame int

	// CallTimeout bounds a Call whose ctx has no deadline. Default 2s: peer
	// calls sit inside HTTP requests and must fail over quickly.
	CallTimeout time.Duration

	// DialTimeout bounds connecting, including the TLS handshake, on both
	// the client and the server side. Default 1s.
	DialTimeout time.Duration

	// WriteTimeout bounds writing one frame (to between 7/8 of it and all
	// of it), so a peer that stops reading cannot block writers forever; on
	// expiry the connection is closed.
	// Default 5s, longer than CallTimeout because one slow frame breaks the
	// connection for every call multiplexed on it.
	WriteTimeout time.Duration

	// UnackedTimeout, on TCP connections under Linux, makes the kernel
	// abort a connection whose sent data has gone unacknowledged this long
	// (TCP_USER_TIMEOUT), on both ends. A connection stalled by a partition
	// or a one-way cut then breaks, and the next call dials afresh once the
	// path heals, instead of timing out until TCP's retransmission backoff
	// (which grows to minutes) happens to resend; and what the dead
	// connection still held is dropped rather than delivered late. Default
	// 10s: on a LAN, data unacknowledged that long means the path is gone,
	// and it leaves room for a peer that stops reading for a while (a full
	// MaxInFlight): Linux also counts a zero receive window against it.
	UnackedTimeout time.Duration

	// IdleTimeout closes client connections with no call for this long.
	// Default 60s.
	IdleTimeout time.Duration

	// MaxInFlight is the number of handlers one server connection may run at
	// once. Default 256. When it is reached the server stops reading that
	// connection (back-pressure through TCP) until a handler finishes.
	MaxInFlight int

	// MaxConns caps the connections one listener of a Server holds open at
	// once, authenticated or not; a connection accepted beyond it is closed
	// at once and counted in Stats.ConnsRefused. With TLS, a connection
	// that has not finished its handshake within DialTimeout is closed, so
	// an unauthenticated client holds a slot at most that long. Default
	// 1024: a node keeps ConnsPerPeer connections from each peer, so this
	// serves clusters of hundreds of nodes while a local process opening
	// connections in a loop cannot exhaust the node's file descriptors.
	MaxConns int

	// Logger receives connection-level warnings (malformed frames, failed
	// handshakes). Default: discard.
	Logger *slog.Logger
}

// Defaults, documented on the Config fields.
const (
	defaultConnsPerPeer = 2
	defaultMaxFrame     = 16 << 20
	defaultCallTimeout  = 2 * time.Second
	defaultDialTimeout  = time.Second
	defaultUnacked      = 10 * time.Second
	defaultWriteTimeout = 5 * time.Second
	defaultIdleTimeout  = 60 * time.Second
	defaultMaxInFlight  = 256
	defaultMaxConns     = 1024

	// maxFrameLimit caps MaxFrame at 1 GiB: far above any session, below the
	// 32-bit length field, and valid for int on 32-bit platforms.
	maxFrameLimit = 1 << 30
)

// DefaultConfig returns a fresh Config with every default filled in.
func DefaultConfig() Config {
	return Config{
		ConnsPerPeer:   defaultConnsPerPeer,
		MaxFrame:       defaultMaxFrame,
		CallTimeout:    defaultCallTimeout,
		DialTimeout:    defaultDialTimeout,
		UnackedTimeout: defaultUnacked,
		WriteTimeout:   defaultWriteTimeout,
		IdleTimeout:    defaultIdleTimeout,
		MaxInFlight:    defaultMaxInFlight,
		MaxConns:       defaultMaxConns,
	}
}

// Validate reports the first invalid field, wrapping ErrBadConfig. Zero
// values are valid (they select the default).
func (c Config) Validate() error {
	durations := []struct {
		name string
		d    time.Duration
	}{
		{"CallTimeout", c.CallTimeout},
		{"DialTimeout", c.DialTimeout},
		{"UnackedTimeout", c.UnackedTimeout},
		{"WriteTimeout", c.WriteTimeout},
		{"IdleTimeout", c.IdleTimeout},
	}
	for _, f := range durations {
		if f.d < 0 {
			return fmt.Errorf("rpc: %s is %v, want >= 0: %w", f.name, f.d, ErrBadConfig)
		}
	}
	switch {
	case c.ConnsPerPeer < 0:
		return fmt.Errorf("rpc: ConnsPerPeer is %d, want >= 0: %w", c.ConnsPerPeer, ErrBadConfig)
	case c.MaxFrame < 0 || c.MaxFrame > maxFrameLimit:
		return fmt.Errorf("rpc: MaxFrame is %d, want 0..%d: %w", c.MaxFrame, maxFrameLimit, ErrBadConfig)
	case c.MaxInFlight < 0:
		return fmt.Errorf("rpc: MaxInFlight is %d, want >= 0: %w", c.MaxInFlight, ErrBadConfig)
	case c.MaxConns < 0:
		return fmt.Errorf("rpc: MaxConns is %d, want >= 0: %w", c.MaxConns, ErrBadConfig)
	}
	return nil
}

// withDefaults validates c and fills its zero fields.
func (c Config) withDefaults() (Config, error) {
	if err := c.Validate(); err != nil {
		return c, err
	}
	d := DefaultConfig()
	setDefault(&c.ConnsPerPeer, d.ConnsPerPeer)
	setDefault(&c.MaxFrame, d.MaxFrame)
	setDefault(&c.CallTimeout, d.CallTimeout)
	setDefault(&c.DialTimeout, d.DialTimeout)
	setDefault(&c.UnackedTimeout, d.UnackedTimeout)
	setDefault(&c.WriteTimeout, d.WriteTimeout)
	setDefault(&c.IdleTimeout, d.IdleTimeout)
	setDefault(&c.MaxInFlight, d.MaxInFlight)
	setDefault(&c.MaxConns, d.MaxConns)
	if c.Dial == nil {
		var nd net.Dialer
		c.Dial = func(ctx context.Context, addr string) (net.Conn, error) {
			return nd.DialContext(ctx, "tcp", addr)
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.TLS != nil && !c.TLS.DynamicRecordSizingDisabled {
		// crypto/tls starts every connection with records of one TCP
		// segment, growing them over the first 128 KiB: good for a browser's
		// first paint, but here it splits each larger frame into several
		// records and write system calls until the connection has warmed up,
		// again on every new connection. Frames are written whole anyway.
		c.TLS = c.TLS.Clone()
		c.TLS.DynamicRecordSizingDisabled = true
	}
	return c, nil
}

func setDefault[T comparable](field *T, def T) {
	var zero T
	if *field == zero {
		*field = def
	}
}
