package store

import (
	"sync/atomic"
	"testing"
)

// TestResyncStateResets checks the partition bookkeeping the review found
// leaking: resync state must not outlive the copy it was about, and a pull
// round must not complete a partition that was marked again meanwhile.
func TestResyncStateResets(t *testing.T) {
	var used atomic.Int64
	p := newPartition(0)
	p.setReady(true)
	p.setResync(resyncHolder)
	if p.isReady() || !p.held || p.resync != resyncHolder {
		t.Fatalf("after setResync: ready %v held %v resync %v; want false, true, holder", p.isReady(), p.held, p.resync)
	}
	p.clear(&used) // the partition moved away and its orphan copy was dropped
	if p.held || p.resync != resyncNone {
		t.Errorf("after clear: held %v resync %v; want false, none (an empty copy must not count as complete)", p.held, p.resync)
	}
	p.setReady(true)
	p.setResync(resyncAll)
	p.setReady(false) // newly held again: an ordinary pull
	if p.held || p.resync != resyncNone {
		t.Errorf("after setReady(false): held %v resync %v; want false, none", p.held, p.resync)
	}

	p.setResync(resyncHolder)
	round := p.generation()
	p.setResync(resyncHolder) // cut off again while the round was pulling
	if p.setReadyAt(round) || p.isReady() {
		t.Error("a pull round that began before the latest marking completed the partition")
	}
	if !p.setReadyAt(p.generation()) || !p.isReady() || p.resync != resyncNone || p.held {
		t.Error("a round of the current generation did not complete the partition")
	}
}
