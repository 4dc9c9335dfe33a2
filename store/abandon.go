package store

import (
	"context"
	"slices"
	"sync"
	"time"
)

// A Lock that fails may still be granted somewhere: its reply lost, or its
// request held up in a connection until a partition healed. The node then
// calls the request off at every node it was sent to (an opUnlock carrying
// the request's nonce), so a lease granted to nobody is freed at once rather
// than after its ttl. This file holds the queue of such calls and the one
// goroutine that makes them.

// maxAbandons bounds the calls the queue holds. Past it the oldest is
// dropped: its lease, if it was granted, then lasts until its ttl, which is
// the fallback every lease has anyway.
const maxAbandons = 4096

// abandonEvery is how often undelivered calls are retried.
const abandonEvery = time.Second

// abandonCall is one opUnlock frame still to deliver to addr.
type abandonCall struct {
	addr     string
	frame    []byte
	deadline time.Time // the longest the abandoned lease could last
}

// abandonQueue holds the calls not yet delivered.
type abandonQueue struct {
	mu      sync.Mutex // guards calls and dropped
	calls   []abandonCall
	dropped uint64
	kick    chan struct{}
}

// add queues frame for each address, dropping the oldest calls past
// maxAbandons, and wakes the sender.
func (q *abandonQueue) add(frame []byte, addrs []string, deadline time.Time) {
	q.mu.Lock()
	for _, a := range addrs {
		q.calls = append(q.calls, abandonCall{a, frame, deadline})
	}
	if over := len(q.calls) - maxAbandons; over > 0 {
		q.dropped += uint64(over)
		q.calls = slices.Delete(q.calls, 0, over)
	}
	q.mu.Unlock()
	select {
	case q.kick <- struct{}{}:
	default:
	}
}

// take removes and returns the calls whose deadline has not passed.
func (q *abandonQueue) take(now time.Time) []abandonCall {
	q.mu.Lock()
	defer q.mu.Unlock()
	calls := slices.DeleteFunc(q.calls, func(c abandonCall) bool { return !now.Before(c.deadline) })
	q.calls = nil
	return calls
}

// putBack returns undelivered calls to the queue ahead of newer ones.
func (q *abandonQueue) putBack(calls []abandonCall) {
	if len(calls) == 0 {
		return
	}
	q.mu.Lock()
	q.calls = append(calls, q.calls...)
	if over := len(q.calls) - maxAbandons; over > 0 {
		q.dropped += uint64(over)
		q.calls = slices.Delete(q.calls, 0, over)
	}
	q.mu.Unlock()
}

// stats reports how many calls wait and how many were dropped.
func (q *abandonQueue) stats() (pending int, dropped uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.calls), q.dropped
}

// abandonLoop delivers queued calls until the node stops: at once when
// woken, then every abandonEvery for those that failed. A node that does
// not answer is skipped for the rest of a round, so one unreachable node
// costs one call timeout per round, not one per call.
func (n *Node) abandonLoop() {
	defer n.wg.Done()
	t := time.NewTicker(abandonEvery)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-n.abandons.kick:
		case <-t.C:
		}
		calls := n.abandons.take(n.now())
		down := make(map[string]bool)
		var failed []abandonCall
		for i, c := range calls {
			select {
			case <-n.stop:
				return
			default:
			}
			if down[c.addr] {
				failed = append(failed, c)
				continue
			}
			_, err := n.client.CallDeadline(context.Background(), time.Now().Add(abandonEvery), c.addr, mWrite, c.frame)
			if err != nil {
				down[c.addr] = true
				failed = append(failed, c)
			}
			calls[i] = abandonCall{} // let the frame go
		}
		n.abandons.putBack(failed)
	}
}
