package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/e5b1d45c/sessring/internal/netlab"
)

// faultKinds are the faults of a -netns run, as -nemesis names them.
var faultKinds = []string{"kill", "pause", "partition", "oneway", "loss"}

// How long each fault lasts, drawn uniformly from [lo, hi). Every one stays
// far below store's LostMemberTTL (30s), past which a partition splits the
// brain by design.
//
// A pause must outlast both the read lease and failure detection, so that
// the paused node wakes up as an owner that lost its partitions: store's
// read lease is 1s (leaseDuration in store/readlease.go), and with the
// child's gossip timing (200ms probes, SuspicionMult 4) a silent node is
// declared dead 0.8s after suspicion with two confirmations, up to 4.8s
// without (the report's "member lost after" column shows it: about 1.1s
// on a 5-node lab). 2.5-4s is at least 2.5 read leases and past detection in
// all but the unconfirmed case.
var faultHold = map[string][2]time.Duration{
	"kill":      {2 * time.Second, 4 * time.Second}, // down, then restarted
	"pause":     {2500 * time.Millisecond, 4 * time.Second},
	"partition": {3 * time.Second, 5 * time.Second},
	"oneway":    {3 * time.Second, 5 * time.Second},
	"loss":      {3 * time.Second, 5 * time.Second},
}

// labNemesis injects one fault of o.nemeses at a time until end, each after
// a gap of o.gap to 2*o.gap and once the cluster is healthy, in rounds that
// try every kind once in a random order. It undoes a fault in force when ctx
// ends.
func labNemesis(ctx context.Context, c *cluster, lab *netlab.Lab, probe *http.Client, o options, t0, end time.Time) ([]*event, error) {
	r := rand.New(rand.NewPCG(o.seed, 0x6e656d))
	var evs []*event
	var round []string
	for ctx.Err() == nil {
		if len(round) == 0 {
			round = append(round, o.nemeses...)
			r.Shuffle(len(round), func(i, j int) { round[i], round[j] = round[j], round[i] })
		}
		kind := round[0]
		round = round[1:]
		hold := faultHold[kind][0] + time.Duration(r.Int64N(int64(faultHold[kind][1]-faultHold[kind][0])))
		if !sleep(ctx, min(o.gap+time.Duration(r.Int64N(int64(o.gap))), time.Until(end))) {
			break
		}
		// Measure each fault with load after it: none ends in the last 2s.
		if time.Until(end) < hold+2*time.Second || !c.waitHealthy(ctx, probe, time.Until(end)) || time.Until(end) < hold+2*time.Second {
			progress("nemesis done: %v of load left, a %s lasts %v", time.Until(end).Round(time.Millisecond), kind, hold.Round(time.Millisecond))
			break
		}
		ev := &event{kind: kind, at: time.Since(t0)}
		if err := inject(ctx, c, lab, probe, r, ev, hold); err != nil {
			return evs, err
		}
		ev.back = time.Since(t0)
		evs = append(evs, ev)
	}
	closeEvents(evs, t0, end)
	return evs, nil
}

// inject applies one fault of ev.kind for hold, then undoes it.
func inject(ctx context.Context, c *cluster, lab *netlab.Lab, probe *http.Client, r *rand.Rand, ev *event, hold time.Duration) error {
	n := len(c.slots)
	i := r.IntN(n)
	switch ev.kind {
	case "kill":
		ev.target = c.slots[i].name
		progress("kill %s for %v", ev.target, hold.Round(time.Millisecond))
		c.down(i).child.Kill()
		watchLoss(ctx, c, probe, ev, (i+1)%n, hold)
		if ctx.Err() != nil {
			return nil
		}
		if err := c.restart(i); err != nil {
			return fmt.Errorf("restart %s: %w", ev.target, err)
		}
		progress("restarted %s", ev.target)
		return nil
	case "pause":
		ev.target = c.slots[i].name
		p := c.up(i)
		progress("pause %s for %v", ev.target, hold.Round(time.Millisecond))
		p.child.Signal(syscall.SIGSTOP)
		watchLoss(ctx, c, probe, ev, (i+1)%n, hold)
		p.child.Signal(syscall.SIGCONT)
		progress("resumed %s", ev.target)
		return nil
	case "partition":
		hosts := r.Perm(n)
		major, minor := hosts[:n/2+1], hosts[n/2+1:]
		ev.target = c.names(major) + " | " + c.names(minor)
		progress("partition %s for %v", ev.target, hold.Round(time.Millisecond))
		return holdFault(ctx, lab, func() error { return lab.Partition(major, minor) }, func() {
			watchLoss(ctx, c, probe, ev, major[0], hold)
		})
	case "oneway":
		to := (i + 1 + r.IntN(n-1)) % n
		ev.target = c.slots[i].name + " -> " + c.slots[to].name
		progress("cut %s (one way) for %v", ev.target, hold.Round(time.Millisecond))
		return holdFault(ctx, lab, func() error { return lab.Cut(i, to) }, func() { sleep(ctx, hold) })
	case "loss":
		percent := 10 + r.IntN(11)
		ev.target = fmt.Sprintf("%d%%", percent)
		progress("drop %d%% of packets between hosts for %v", percent, hold.Round(time.Millisecond))
		return holdFault(ctx, lab, func() error { return lab.Loss(percent) }, func() { sleep(ctx, hold) })
	}
	return fmt.Errorf("unknown fault %q", ev.kind)
}

// holdFault applies a network fault, waits (hold returns at the end of the
// fault or when ctx ends) and heals the lab.
func holdFault(ctx context.Context, lab *netlab.Lab, apply func() error, hold func()) error {
	err := apply()
	if err == nil {
		hold()
	}
	if herr := lab.Heal(); herr != nil && err == nil {
		err = herr
	}
	if err == nil {
		progress("healed")
	}
	return err
}

// watchLoss waits hold (or until ctx ends) while polling observer's
// /healthz, and records in ev how long after the start of the fault the
// observer first counted fewer than all members: evidence that the fault
// was seen as one (a pause shorter than failure detection would be no more
// than a slow node).
func watchLoss(ctx context.Context, c *cluster, probe *http.Client, ev *event, observer int, hold time.Duration) {
	start := time.Now()
	ev.watched, ev.lost = true, -1
	for left := hold; left > 0; left = hold - time.Since(start) {
		if ev.lost < 0 && c.members(ctx, probe, observer) < len(c.slots) {
			ev.lost = time.Since(start)
			progress("%s lost a member after %v", c.slots[observer].name, ev.lost.Round(time.Millisecond))
		}
		if !sleep(ctx, min(100*time.Millisecond, left)) {
			return
		}
	}
	if ev.lost < 0 {
		progress("%s counted every member throughout", c.slots[observer].name)
	}
}

// members returns how many members slot i counts, as its /healthz says
// (all of them when it does not answer: no evidence either way).
func (c *cluster) members(ctx context.Context, probe *http.Client, i int) int {
	p := c.up(i)
	if p == nil {
		return len(c.slots)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.http+"/healthz", nil)
	resp, err := probe.Do(req)
	if err != nil {
		return len(c.slots)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	var pending, members, of int
	if _, err := fmt.Sscanf(string(b), "pending %d members %d/%d", &pending, &members, &of); err != nil {
		return len(c.slots)
	}
	return members
}

// names lists the names of slots idx.
func (c *cluster) names(idx []int) string {
	var s []string
	for _, i := range idx {
		s = append(s, c.slots[i].name)
	}
	return strings.Join(s, ",")
}

// parseNemeses checks a -nemesis list against faultKinds.
func parseNemeses(list string) ([]string, error) {
	var kinds []string
	for _, k := range strings.Split(list, ",") {
		k = strings.TrimSpace(k)
		if _, ok := faultHold[k]; !ok {
			return nil, fmt.Errorf("unknown nemesis %q (want some of %s)", k, strings.Join(faultKinds, ","))
		}
		kinds = append(kinds, k)
	}
	return kinds, nil
}
