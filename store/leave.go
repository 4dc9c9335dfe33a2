package store

import (
	"context"
	"errors"
	"time"

	"github.com/e5b1d45c/sessring/internal/wire"
)

// leave is the graceful part of Close: hand every session this node holds to
// the nodes that will hold it once this node is gone, then announce the
// departure, then stop answering as a holder. Requests meanwhile are retried
// by their senders, so none fails.
func (n *Node) leave() error {
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.HandoverTimeout)
	defer cancel()
	herr := n.handover(ctx)
	n.announceDeparture(ctx)
	n.leaving.Store(true)
	n.refreshView()
	lerr := n.cluster.Leave(n.cfg.HandoverTimeout / 2)
	n.drain()
	if herr != nil || lerr != nil {
		n.log.Warn("leave", "handover", herr, "leave", lerr)
	}
	return errors.Join(herr, lerr)
}

// handover pushes this node's sessions to their holders in the placement
// without this node.
func (n *Node) handover(ctx context.Context) error {
	v := n.view.Load()
	if v == nil || v.without.Len() == 0 {
		return nil
	}
	batches := make(map[string][]tokenEntry)
	sizes := make(map[string]int)
	var errs []error
	flush := func(target string) {
		if len(batches[target]) == 0 {
			return
		}
		var enc wire.Encoder
		header{n.name, v.id()}.encode(&enc)
		encodeEntries(&enc, batches[target])
		if _, err := n.call(ctx, v, target, mHandover, enc.B); err != nil {
			errs = append(errs, err)
		}
		batches[target], sizes[target] = nil, 0
	}
	for p, part := range n.parts {
		o, r := v.without.Holders(p)
		for _, te := range part.snapshot() {
			for _, t := range []string{o, r} {
				if t == "" {
					continue
				}
				batches[t] = append(batches[t], te)
				if sizes[t] += te.e.size; sizes[t] > maxPullBytes/2 {
					flush(t)
				}
			}
		}
	}
	for t := range batches {
		flush(t)
	}
	return errors.Join(errs...)
}

// drain keeps answering (not-owner, so senders retry elsewhere) until peers
// have stopped sending to this node, at most one second.
func (n *Node) drain() {
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		before := n.stats.requests.Load()
		t := time.NewTimer(100 * time.Millisecond)
		<-t.C
		if n.stats.requests.Load() == before {
			return
		}
	}
}

// announceDeparture tells every member this node is leaving on purpose, so
// they do not count it as lost (see Config.Minority).
func (n *Node) announceDeparture(ctx context.Context) {
	v := n.view.Load()
	if v == nil {
		return
	}
	var enc wire.Encoder
	header{n.name, v.id()}.encode(&enc)
	for _, m := range v.table.Members() {
		if m != n.name {
			n.call(ctx, v, m, mDepart, enc.B)
		}
	}
}
