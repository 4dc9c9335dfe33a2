package store

import "fmt"

// Ready reports whether a load balancer should send this node requests: it
// has joined (Open returned), holds a copy of every partition it owns or
// replicates (pulled from their previous holders after a join, restart or
// membership change), is not cut off from the majority, and is not shutting
// down. nil means ready; otherwise the error wraps ErrNotReady and says why.
//
// A node that is not ready still serves every request correctly (it
// fetches what it has not pulled yet on demand, or forwards); readiness
// only tells a balancer or a Kubernetes readiness probe where requests are
// cheapest and when a rolling deploy may stop the next node. Close makes a
// node not ready at once, before it starts handing over. Ready walks every
// partition: call it from a probe, not per request.
func (n *Node) Ready() error {
	if n.closing.Load() || n.closed.Load() {
		return fmt.Errorf("%w: shutting down", ErrNotReady)
	}
	v := n.view.Load()
	if v == nil {
		return fmt.Errorf("%w: no view of the cluster yet", ErrNotReady)
	}
	if n.cutOff.Load() {
		return fmt.Errorf("%w: cut off from the majority of the members", ErrNotReady)
	}
	pending, held := 0, 0
	for p, part := range n.parts {
		if !v.holds(p) {
			continue
		}
		held++
		if !part.isReady() {
			pending++
		}
	}
	if pending > 0 {
		return fmt.Errorf("%w: pulling %d of the %d partitions it holds from their previous holders", ErrNotReady, pending, held)
	}
	return nil
}
