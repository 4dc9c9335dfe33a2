package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"syscall"
	"time"
)

// event is one nemesis action.
type event struct {
	kind    string        // "kill", "roll", or a netns fault (faults.go)
	target  string        // the node, or the hosts a network fault hit
	at      time.Duration // since t0: the fault starts
	back    time.Duration // since t0: a restarted node is READY, a fault is undone
	until   time.Duration // since t0: the next action (or the end of load)
	failed  int           // ops started in [at, until) that failed
	unavail time.Duration // longest run of consecutive failures
	slowest time.Duration // longest single op
	watched bool          // lost was measured (-netns kill, pause, partition)
	lost    time.Duration // since at: another node first counted fewer members; -1: never
}

// nemesis runs one loopback action (a kill or a roll) every 3-6s until end,
// one node down at most. It waits for the cluster to be healthy (all members
// seen, no partition pending) before each action, so every fault is a
// single fault.
func nemesis(ctx context.Context, c *cluster, probe *http.Client, seed uint64, t0, end time.Time) ([]*event, error) {
	r := rand.New(rand.NewPCG(seed, 0x6e656d))
	var evs []*event
	for {
		wait := 3*time.Second + time.Duration(r.Int64N(int64(3*time.Second)))
		if !sleep(ctx, min(wait, time.Until(end))) {
			break
		}
		// An action needs load after it to be measured: none in the last 4s.
		if time.Until(end) < 4*time.Second || !c.waitHealthy(ctx, probe, time.Until(end)) || time.Until(end) < 4*time.Second {
			break
		}
		i := r.IntN(len(c.slots))
		ev := &event{target: c.slots[i].name}
		p := c.down(i)
		if r.IntN(2) == 0 {
			ev.kind = "kill"
			ev.at = time.Since(t0)
			p.child.Kill()
			progress("kill %s", ev.target)
			if !sleep(ctx, 2*time.Second+time.Duration(r.Int64N(int64(2*time.Second)))) {
				break
			}
		} else {
			ev.kind = "roll"
			ev.at = time.Since(t0)
			p.child.Signal(syscall.SIGTERM)
			select {
			case <-p.child.Done():
			case <-time.After(30 * time.Second):
				p.child.Kill()
				progress("roll %s: no exit 30s after SIGTERM, killed", ev.target)
			}
			progress("roll %s: SIGTERM, exited after %v", ev.target, (time.Since(t0) - ev.at).Round(time.Millisecond))
		}
		if err := c.restart(i); err != nil {
			return evs, fmt.Errorf("restart %s: %w", ev.target, err)
		}
		ev.back = time.Since(t0)
		progress("restarted %s", ev.target)
		evs = append(evs, ev)
	}
	closeEvents(evs, t0, end)
	return evs, nil
}

// closeEvents sets each action's until: the next action, or the end of load.
func closeEvents(evs []*event, t0, end time.Time) {
	for i, ev := range evs {
		ev.until = end.Sub(t0)
		if i+1 < len(evs) {
			ev.until = evs[i+1].at
		}
	}
}
