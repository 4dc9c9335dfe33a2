package main

import (
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/internal/testkit"
)

// labBalancer is the draining load balancer in front of a test cluster's
// node processes (labCluster, upgradeCluster): it sends requests only to
// nodes that are up, counts those in flight, and lets a node be taken out
// and its requests finish before it is told to stop.
type labBalancer struct {
	mu       sync.Mutex // guards nodes, up and inflight
	nodes    []*labNode
	up       []bool
	inflight []int // requests dispatched to each node and not yet answered
}

func newLabBalancer(n int) labBalancer {
	return labBalancer{nodes: make([]*labNode, n), up: make([]bool, n), inflight: make([]int, n)}
}

// size is the number of node slots.
func (b *labBalancer) size() int { return len(b.nodes) }

// node is node i's process, nil while it is not running.
func (b *labBalancer) node(i int) *labNode {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.nodes[i]
}

// serve records n as node i's process and sends it requests.
func (b *labBalancer) serve(i int, n *labNode) {
	b.mu.Lock()
	b.nodes[i], b.up[i] = n, true
	b.mu.Unlock()
}

// setUp sends node i requests or stops sending them, its process kept.
func (b *labBalancer) setUp(i int, up bool) {
	b.mu.Lock()
	b.up[i] = up
	b.mu.Unlock()
}

// drain takes node i out of the balancer and returns its process.
func (b *labBalancer) drain(i int) *labNode {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.up[i] = false
	n := b.nodes[i]
	b.nodes[i] = nil
	return n
}

// pick chooses one of the nodes that are up with intn and counts the
// request in flight there until done is called. ok is false when no node
// is up.
func (b *labBalancer) pick(intn func(int) int) (i int, n *labNode, done func(), ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	live := b.liveLocked()
	if len(live) == 0 {
		return 0, nil, nil, false
	}
	i = live[intn(len(live))]
	b.inflight[i]++
	return i, b.nodes[i], func() {
		b.mu.Lock()
		b.inflight[i]--
		b.mu.Unlock()
	}, true
}

// quiesce waits until no request picked before node i (named name) was
// drained is still in flight there, as a load balancer's connection
// draining does before the node is told to stop.
func (b *labBalancer) quiesce(t *testing.T, i int, name string) {
	t.Helper()
	testkit.EventuallyWhy(t, 30*time.Second, name+"'s requests in flight done after draining", func() (bool, string) {
		b.mu.Lock()
		n := b.inflight[i]
		b.mu.Unlock()
		return n <= 0, fmt.Sprintf("%d in flight", n)
	})
}

// live lists the nodes the balancer may use.
func (b *labBalancer) live() []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.liveLocked()
}

func (b *labBalancer) liveLocked() []int {
	var s []int
	for i, u := range b.up {
		if u {
			s = append(s, i)
		}
	}
	return s
}

// killAll drains and SIGKILLs every running node and waits for each.
func (b *labBalancer) killAll() {
	for i := range b.nodes {
		if n := b.drain(i); n != nil {
			n.cmd.Process.Signal(syscall.SIGKILL)
			<-n.done
		}
	}
}

// terminate stops n as a deploy does (SIGTERM) and waits for its exit,
// which must be clean, for at most 30 s.
func (n *labNode) terminate(t *testing.T) {
	t.Helper()
	n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
		if code := n.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("%s exited with %d after SIGTERM, want 0", n.name, code)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s still running 30s after SIGTERM", n.name)
	}
}
