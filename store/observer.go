package store

import "time"

// Observer receives what a node measures as it works: the latency of each
// operation, and the membership events an operator wants on a timeline.
// Package metrics implements it with Prometheus histograms; a nil
// Config.Observer costs nothing.
//
// ObserveOp is called on the request path, concurrently, once per
// operation: it must be fast and must not block. ObserveEvent is called
// from the node's membership and pull goroutines, possibly
// concurrently; it must not block either, nor call back into the node.
type Observer interface {
	ObserveOp(op Op, d time.Duration)
	ObserveEvent(e Event)
}

// Op names a timed operation.
type Op uint8

// The operations ObserveOp reports.
const (
	// OpReadLocal and OpWriteLocal: a Load, or a write (Commit, Apply,
	// Delete, Touch), answered by this node as the session's owner.
	OpReadLocal Op = iota
	OpWriteLocal
	// OpReadForwarded and OpWriteForwarded: answered by the owner,
	// another node, through this one.
	OpReadForwarded
	OpWriteForwarded
	// OpReplicate: one version sent by the owner to the replica and
	// acknowledged.
	OpReplicate
	// OpPull: one pull of partitions from one source after a
	// membership change (all its pages).
	OpPull
	numOps
)

var opNames = [numOps]string{"read_local", "write_local", "read_forwarded", "write_forwarded", "replicate", "pull"}

// String returns the operation's name: read_local, write_forwarded, ...
func (o Op) String() string {
	if o < numOps {
		return opNames[o]
	}
	return "unknown"
}

// EventKind names a membership event.
type EventKind uint8

// The events ObserveEvent reports.
const (
	// EventJoined: Member appeared in this node's view.
	EventJoined EventKind = iota + 1
	// EventFailed: Member disappeared without saying goodbye. Took is how
	// long this node had not heard from it when it was declared dead
	// (detection time).
	EventFailed
	// EventLeft: Member left gracefully, having handed its sessions over.
	EventLeft
	// EventCaughtUp: every partition this node holds after a membership
	// change is complete again (pulls and re-replication done), so it
	// serves all of them. Took is the time since the change (for a
	// failure: since the failed member was last heard from, so the whole
	// outage of its sessions as seen from here); Partitions how many were
	// pulled.
	EventCaughtUp
)

var eventNames = map[EventKind]string{EventJoined: "joined", EventFailed: "failed", EventLeft: "left", EventCaughtUp: "caught_up"}

// String returns joined, failed, left or caught_up.
func (k EventKind) String() string {
	if s, ok := eventNames[k]; ok {
		return s
	}
	return "unknown"
}

// Event is one membership event as seen by the node reporting it.
type Event struct {
	Time       time.Time
	Kind       EventKind
	Node       string // the node reporting
	Member     string // the member concerned (Joined, Failed, Left)
	Took       time.Duration
	Partitions int
}

// observeOp reports one operation that started at start; a no-op without
// an Observer.
func (n *Node) observeOp(op Op, start time.Time) {
	if o := n.cfg.Observer; o != nil {
		o.ObserveOp(op, time.Since(start)) // a latency: real time, whatever Config.Clock says
	}
}

func (n *Node) observeEvent(e Event) {
	if o := n.cfg.Observer; o != nil {
		e.Node = n.name
		if e.Time.IsZero() {
			e.Time = n.now()
		}
		o.ObserveEvent(e)
	}
}
