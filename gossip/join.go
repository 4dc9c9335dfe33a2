package gossip

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// errNameHeld marks a join that reached a seed whose member list still
// has this node's Name at another address.
var errNameHeld = errors.New("name still held by another address")

// joinSeeds joins Config.Join, retrying until one seed accepts this node or
// JoinTimeout passes.
func (c *Cluster) joinSeeds() error {
	start := time.Now()
	deadline := start.Add(c.cfg.JoinTimeout)
	loggedHeld := false
	for attempt := 1; ; attempt++ {
		err := c.tryJoin(c.cfg.Join)
		if err == nil {
			c.log.Debug("gossip: joined", "seeds", c.cfg.Join, "attempts", attempt, "took", time.Since(start))
			return nil
		}
		if errors.Is(err, ErrIncompatible) {
			return fmt.Errorf("gossip: join %v: %w", c.cfg.Join, err) // retrying cannot help
		}
		if errors.Is(err, errNameHeld) && !loggedHeld {
			loggedHeld = true
			c.log.Info("gossip: waiting for the cluster to release this node's name (restarted at a new address?)", "err", err)
		}
		remaining := time.Until(deadline)
		if remaining <= 0 {
			return fmt.Errorf("gossip: join %v (%d attempts in %v): %w", c.cfg.Join, attempt, c.cfg.JoinTimeout, err)
		}
		c.log.Debug("gossip: join attempt failed", "attempt", attempt, "err", err)
		time.Sleep(min(c.retryPause(err), remaining))
	}
}

// tryJoin makes one join attempt through seeds.
func (c *Cluster) tryJoin(seeds []string) error {
	c.guard.reset()
	c.admit.reset()
	n, err := c.ml.Join(seeds)
	if refused := c.admit.refusal(); refused != nil {
		return refused
	}
	if n == 0 {
		return fmt.Errorf("%w: %w", ErrJoin, err)
	}
	if holder := c.guard.heldBy(); holder != "" {
		return fmt.Errorf("%w: %q: %w (%s)", ErrJoin, c.cfg.Name, errNameHeld, holder)
	}
	return nil
}

// retryPause is JoinRetry with ±25% jitter. While the name is held, nothing
// changes faster than a probe round, so it waits at least ProbeInterval.
func (c *Cluster) retryPause(err error) time.Duration {
	d := c.cfg.JoinRetry
	if errors.Is(err, errNameHeld) {
		d = max(d, c.cfg.ProbeInterval)
	}
	return d*3/4 + rand.N(d/2+1)
}

// nameGuard watches the member lists exchanged during joins for this node's
// Name held at another address. memberlist accepts such a join, yet peers
// reject the node's alive messages until the old holder is dead for
// DeadNodeReclaimTime (or has left), so the node would be invisible to
// them; New keeps joining until the name is free. It implements
// memberlist.MergeDelegate and never cancels a merge.
type nameGuard struct {
	name string
	// self is this node's advertised address, once known.
	self atomic.Pointer[string]
	// holder is the address seen holding the name since the last reset.
	holder atomic.Pointer[string]
}

var _ memberlist.MergeDelegate = (*nameGuard)(nil)

// NotifyMerge is called with a peer's member list on every join.
func (g *nameGuard) NotifyMerge(peers []*memberlist.Node) error {
	self := g.self.Load()
	if self == nil {
		return nil
	}
	for _, p := range peers {
		if p.Name == g.name && p.State != memberlist.StateLeft && p.Address() != *self {
			a := p.Address()
			g.holder.Store(&a)
		}
	}
	return nil
}

// reset forgets what earlier joins saw.
func (g *nameGuard) reset() { g.holder.Store(nil) }

// heldBy returns the address seen holding the name since reset, if any.
func (g *nameGuard) heldBy() string {
	if a := g.holder.Load(); a != nil {
		return *a
	}
	return ""
}
