package clustertest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/internal/memnet"
	"github.com/e5b1d45c/sessring/internal/testkit"
)

// ConvergeTimeout bounds WaitConverged: a race-enabled cluster of five on a
// loaded two-core machine settles well within it.
const ConvergeTimeout = 20 * time.Second

// Host is where a node starts: its name, its address on the in-memory
// network and the gossip addresses of the nodes running when it starts.
type Host struct {
	Name string
	IP   string
	Join []string
	Net  *memnet.Host
}

// GossipAddr is the node's gossip (bind) address.
func (h Host) GossipAddr() string { return h.IP + ":7946" }

// RPCAddr is the node's peer-call address.
func (h Host) RPCAddr() string { return h.IP + ":7947" }

// View is what a node reports about the cluster, for WaitConverged.
type View struct {
	Members int    // members it sees, itself included
	Pending int    // partitions it holds but has not pulled yet
	Table   uint64 // id of its placement table
}

// Hooks drive one kind of node. Open and View are required.
type Hooks[N any] struct {
	// Open starts a node at h.
	Open func(h Host) (N, error)
	// View reports what n sees of the cluster.
	View func(n N) View
	// Halt stops n after its host dropped off the network, handing nothing
	// over; it returns once n's goroutines exited. Default: Close, with its
	// error ignored (with its host down a node has nobody to hand over to).
	Halt func(n N)
	// Close stops n gracefully. Default: n's own Close method.
	Close func(n N) error
}

// Cluster is a set of nodes on one in-memory network. Its methods may be
// called from any goroutine of the test.
type Cluster[N any] struct {
	t     testing.TB
	hooks Hooks[N]
	// Net is the cluster's network, for faults.
	Net *memnet.Network

	// mu guards live, ips and order.
	mu    sync.Mutex
	live  map[string]N      // running nodes by name
	ips   map[string]string // every name started -> its ip, stable across restarts
	order []string          // names in the order they first started
}

// New returns an empty cluster on a fresh network. Nodes still running when
// the test ends are crashed (HaltAll).
func New[N any](t testing.TB, hooks Hooks[N]) *Cluster[N] {
	if hooks.Open == nil || hooks.View == nil {
		panic("clustertest: Hooks need Open and View")
	}
	if hooks.Close == nil {
		hooks.Close = func(n N) error {
			c, ok := any(n).(interface{ Close() error })
			if !ok {
				panic(fmt.Sprintf("clustertest: %T has no Close method; set Hooks.Close", n))
			}
			return c.Close()
		}
	}
	if hooks.Halt == nil {
		hooks.Halt = func(n N) { _ = hooks.Close(n) }
	}
	c := &Cluster[N]{t: t, hooks: hooks, Net: memnet.New(1), live: map[string]N{}, ips: map[string]string{}}
	t.Cleanup(c.HaltAll)
	return c
}

// Add starts a node under the next free name (node-01, node-02, ...); the
// first one founds the cluster.
func (c *Cluster[N]) Add() N {
	c.t.Helper()
	c.mu.Lock()
	name := fmt.Sprintf("node-%02d", len(c.order)+1)
	ip := c.ipForLocked(name)
	c.mu.Unlock()
	return c.StartAt(name, ip)
}

// Start starts a node named name, joining the running nodes: the first time
// on a fresh address, after that on the address name had before.
func (c *Cluster[N]) Start(name string) N {
	c.t.Helper()
	c.mu.Lock()
	ip := c.ipForLocked(name)
	c.mu.Unlock()
	return c.StartAt(name, ip)
}

// StartAt starts a node named name at ip, joining the running nodes.
func (c *Cluster[N]) StartAt(name, ip string) N {
	c.t.Helper()
	c.Net.Revive(ip) // a no-op unless Kill left it down
	h := Host{Name: name, IP: ip, Join: c.Seeds(name), Net: c.Net.Host(ip)}
	n, err := c.hooks.Open(h)
	if err != nil {
		c.t.Fatalf("Open(%s) = %v", name, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.ips[name]; !ok {
		c.order = append(c.order, name)
	}
	c.live[name], c.ips[name] = n, ip
	return n
}

// ipForLocked returns name's address, choosing the next free one (and
// reserving it) the first time.
func (c *Cluster[N]) ipForLocked(name string) string {
	if ip, ok := c.ips[name]; ok {
		return ip
	}
	c.order = append(c.order, name)
	k := len(c.order)
	ip := fmt.Sprintf("127.0.%d.%d", k/200, 10+k%200)
	c.ips[name] = ip
	return ip
}

// Seeds returns the gossip addresses of the running nodes but except.
func (c *Cluster[N]) Seeds(except string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var s []string
	for _, name := range c.order {
		if _, ok := c.live[name]; ok && name != except {
			s = append(s, Host{IP: c.ips[name]}.GossipAddr())
		}
	}
	return s
}

// Node returns the running node named name, or the zero N.
func (c *Cluster[N]) Node(name string) N {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.live[name]
}

// Nodes returns the running nodes in the order their names first started.
func (c *Cluster[N]) Nodes() []N {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]N, 0, len(c.live))
	for _, name := range c.order {
		if n, ok := c.live[name]; ok {
			out = append(out, n)
		}
	}
	return out
}

// IPs returns the running nodes' addresses by name.
func (c *Cluster[N]) IPs() map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]string, len(c.live))
	for name := range c.live {
		out[name] = c.ips[name]
	}
	return out
}

// IP returns the address name has (had) in the cluster, or "".
func (c *Cluster[N]) IP(name string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ips[name]
}

// Forget takes the node named name out of the cluster without stopping it,
// for a test that stops it itself, and returns it.
func (c *Cluster[N]) Forget(name string) N {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.live[name]
	if !ok {
		c.t.Fatalf("clustertest: no node %q is running", name)
	}
	delete(c.live, name)
	return n
}

// Kill takes the node named name out of the cluster and drops its host off
// the network, as SIGKILL does, but leaves stopping it to the caller; its
// host stays down until the name starts again.
func (c *Cluster[N]) Kill(name string) N {
	n := c.Forget(name)
	c.Net.Crash(c.IP(name))
	return n
}

// Crash kills the node named name the way SIGKILL does: its host drops off
// the network first, then it stops without handing anything over. The host
// comes back (empty), so the name can start again.
func (c *Cluster[N]) Crash(name string) {
	n := c.Kill(name)
	c.hooks.Halt(n)
	c.Net.Revive(c.IP(name))
}

// Leave closes the node named name gracefully (it hands its sessions over
// and leaves), failing the test if Close returns an error.
func (c *Cluster[N]) Leave(name string) {
	c.t.Helper()
	if err := c.hooks.Close(c.Forget(name)); err != nil {
		c.t.Errorf("Close(%s) = %v", name, err)
	}
}

// HaltAll crashes every running node at once, the way a power cut would:
// every host drops off the network, then the nodes stop in parallel (none
// has anybody to hand over to), then the hosts come back.
func (c *Cluster[N]) HaltAll() {
	c.mu.Lock()
	live, ips := c.live, make([]string, 0, len(c.live))
	for name := range live {
		ips = append(ips, c.ips[name])
	}
	c.live = map[string]N{}
	c.mu.Unlock()
	for _, ip := range ips {
		c.Net.Crash(ip)
	}
	var wg sync.WaitGroup
	for _, n := range live {
		wg.Go(func() { c.hooks.Halt(n) })
	}
	wg.Wait()
	for _, ip := range ips {
		c.Net.Revive(ip)
	}
}

// Converged reports whether every running node sees every other, has pulled
// every partition it holds and uses the same placement table.
func (c *Cluster[N]) Converged() bool {
	nodes := c.Nodes()
	views := make([]View, len(nodes))
	for i, n := range nodes {
		views[i] = c.hooks.View(n)
	}
	return slices.IndexFunc(views, func(v View) bool {
		return v.Members != len(nodes) || v.Pending != 0 || v.Table != views[0].Table
	}) < 0
}

// WaitConverged waits up to ConvergeTimeout until the cluster Converged.
func (c *Cluster[N]) WaitConverged() {
	c.t.Helper()
	testkit.Eventually(c.t, ConvergeTimeout, "cluster converged", c.Converged)
}
