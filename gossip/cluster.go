package gossip

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// Member is one node of the cluster as seen through gossip.
type Member struct {
	Name string
	Addr string // gossip host:port
	Meta Meta
}

// Cluster is this process's membership in a gossip cluster. All methods are
// safe for concurrent use.
type Cluster struct {
	cfg    Config
	log    *slog.Logger
	roster *roster
	meta   *localMeta
	guard  *nameGuard
	admit  *admission
	ml     *memberlist.Memberlist
	left   atomic.Bool

	// advertisedIP is the address peers reach this node at; set by start,
	// read-only after it.
	advertisedIP net.IP

	// mu guards closed. Calls into memberlist hold it for reading, so Close
	// (which holds it for writing) waits for them: memberlist panics on a
	// Leave after Shutdown.
	mu     sync.RWMutex
	closed bool
}

// New starts gossip and, if Config.Join lists seeds, joins them, retrying
// until one accepts this node or JoinTimeout passes (then it fails with
// ErrJoin). A seed that is not up yet is simply retried; a restarted node
// whose address changed waits here until the cluster releases its Name (see
// Config.DeadNodeReclaimTime). On failure everything New started, including
// Config.Transport, is shut down.
func New(cfg Config) (*Cluster, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		if cfg.Transport != nil {
			_ = cfg.Transport.Shutdown()
		}
		return nil, err
	}
	if cfg.Meta.Incarnation == 0 {
		cfg.Meta.Incarnation = randomIncarnation()
	}
	c := &Cluster{
		cfg:    cfg,
		log:    cfg.Logger.With("node", cfg.Name),
		meta:   &localMeta{},
		guard:  &nameGuard{name: cfg.Name},
		roster: newRoster(cfg.Name, cfg.Logger.With("node", cfg.Name)),
	}
	c.admit = &admission{self: cfg.Name, roster: c.roster, guard: c.guard}
	if err := c.start(); err != nil {
		return nil, err
	}
	if len(cfg.Join) > 0 {
		if err := c.joinSeeds(); err != nil {
			_ = c.ml.Shutdown()
			return nil, err
		}
	}
	return c, nil
}

// start creates the transport (unless given) and memberlist.
func (c *Cluster) start() error {
	logger := newMemberlistLogger(c.log)
	t := c.cfg.Transport
	if t == nil {
		nt, err := newNetTransport(c.cfg.BindAddr, logger)
		if err != nil {
			return err
		}
		t = nt
	}
	mc, err := c.memberlistConfig(t, logger)
	if err == nil {
		err = c.advertise(t, mc)
	}
	if err == nil {
		c.ml, err = memberlist.Create(mc)
	}
	if err != nil {
		_ = t.Shutdown() // idempotent: memberlist may have done it
		return fmt.Errorf("gossip: start: %w", err)
	}
	self := c.roster.advertised()
	c.guard.self.Store(&self)
	return nil
}

// Self returns this node: its Name, advertised gossip address and current
// Meta.
func (c *Cluster) Self() Member {
	return Member{Name: c.cfg.Name, Addr: c.roster.advertised(), Meta: c.meta.get()}
}

// Members returns the live members (alive or suspect), this node included
// until it leaves, sorted by Name. Members whose Meta does not decode are
// left out and logged once. After Close it returns the last known list.
func (c *Cluster) Members() []Member { return c.roster.list() }

// Changes returns a channel that receives a value after members join, leave,
// fail or change their Meta. It has a buffer of one and sends never block,
// so bursts coalesce: on receipt, read Members again. It is never closed.
func (c *Cluster) Changes() <-chan struct{} { return c.roster.changes }

// SetMeta replaces this node's Meta and gossips it. It returns once the
// update has been handed to gossip (waiting at most ten gossip intervals for
// its first transmissions); it does not wait for every peer to see it.
func (c *Cluster) SetMeta(m Meta) error {
	m = c.completeMeta(m)
	b, err := m.MarshalBinary()
	if err != nil {
		return fmt.Errorf("gossip: set meta: %w", err)
	}
	// Peers would refuse the update's alive messages and keep the old
	// Meta: refuse it here instead, with the reason.
	if err := c.admit.check([]Member{{Name: c.cfg.Name, Meta: m}}); err != nil {
		return fmt.Errorf("gossip: set meta: %w", err)
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if err := c.usableLocked(); err != nil {
		return fmt.Errorf("gossip: set meta: %w", err)
	}
	c.meta.set(m, b)
	if err := c.ml.UpdateNode(10 * c.cfg.GossipInterval); err != nil {
		c.log.Debug("gossip: metadata update queued but not yet sent", "err", err)
	}
	return nil
}

// Join contacts seeds once (no retries) and merges their state, e.g. to
// reunite the cluster after a partition healed: memberlist does not
// rediscover members it declared dead by itself. It returns how many seeds
// answered; none is an error wrapping ErrJoin.
func (c *Cluster) Join(seeds []string) (int, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if err := c.usableLocked(); err != nil {
		return 0, fmt.Errorf("gossip: join: %w", err)
	}
	if len(seeds) == 0 {
		return 0, fmt.Errorf("gossip: join: %w: no seeds given", ErrJoin)
	}
	n, err := c.ml.Join(seeds)
	if n == 0 {
		return 0, fmt.Errorf("gossip: join %v: %w: %w", seeds, ErrJoin, err)
	}
	return n, nil
}

// Leave broadcasts that this node is leaving, so the others drop it at once
// instead of waiting for failure detection, and waits up to timeout for the
// broadcast to go out. The node keeps answering gossip until Close, but
// SetMeta and Join then fail with ErrLeft. Calling it twice is harmless.
func (c *Cluster) Leave(timeout time.Duration) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return fmt.Errorf("gossip: leave: %w", ErrClosed)
	}
	c.left.Store(true)
	if err := c.ml.Leave(timeout); err != nil {
		return fmt.Errorf("gossip: leave: %w", err)
	}
	return nil
}

// Close stops gossip without a leave broadcast (call Leave first for a
// graceful exit): it shuts down the transport and memberlist's timers and
// returns once the transport is down. It is idempotent.
func (c *Cluster) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	if err := c.ml.Shutdown(); err != nil {
		return fmt.Errorf("gossip: close: %w", err)
	}
	return nil
}

func (c *Cluster) usableLocked() error {
	switch {
	case c.closed:
		return ErrClosed
	case c.left.Load():
		return ErrLeft
	}
	return nil
}

// randomIncarnation returns a non-zero random id for this process start.
func randomIncarnation() uint64 {
	var b [8]byte
	for {
		_, _ = rand.Read(b[:]) // never fails (crypto/rand contract)
		if v := binary.BigEndian.Uint64(b[:]); v != 0 {
			return v
		}
	}
}
