package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/e5b1d45c/sessring/internal/netlab"
)

var errInterrupted = errors.New("interrupted")

// runLoad starts c, runs the load and the nemesis (lab's faults, or kills
// and rolls on loopback when lab is nil), reads every token back, checks the
// history and prints the report. Every node is stopped when it returns.
func runLoad(ctx context.Context, o options, out io.Writer, c *cluster, lab *netlab.Lab) (int, error) {
	probe := newClient(2 * time.Second)
	defer c.stopAll()
	if err := c.startAll(); err != nil {
		return 0, err
	}
	if !c.waitHealthy(ctx, probe, 60*time.Second) {
		return 0, settleError(ctx, fmt.Errorf("cluster of %d did not settle within 60s", o.nodes))
	}
	progress("cluster of %d settled; load and chaos for %v", o.nodes, o.duration)

	t0 := time.Now()
	end := t0.Add(o.duration)
	ws := make([]*worker, o.workers)
	done := make(chan struct{})
	for w := range ws {
		ws[w] = newWorker(w, c, o.seed)
		go func() { ws[w].run(ctx, t0, end); done <- struct{}{} }()
	}
	type nemResult struct {
		events []*event
		err    error
	}
	nem := make(chan nemResult, 1)
	go func() {
		var r nemResult
		if lab != nil {
			r.events, r.err = labNemesis(ctx, c, lab, probe, o, t0, end)
		} else {
			r.events, r.err = nemesis(ctx, c, probe, o.seed, t0, end)
		}
		nem <- r
	}()
	for range ws {
		<-done
	}
	elapsed := time.Since(t0)
	nr := <-nem // the last action may finish after the load stopped
	if nr.err != nil {
		return 0, nr.err
	}
	if ctx.Err() != nil {
		return 0, errInterrupted
	}

	progress("load stopped; waiting for the cluster to settle")
	if !c.waitHealthy(ctx, probe, 60*time.Second) {
		return 0, settleError(ctx, errors.New("cluster did not settle within 60s after the run"))
	}
	progress("settled; reading every token back")
	v := verify(ctx, c, ws, o.seed, t0)
	if ctx.Err() != nil {
		return 0, errInterrupted
	}
	progress("checking the history")
	var hist []porcupine.Operation
	for _, w := range ws {
		hist = append(hist, w.hist...)
	}
	lin := check(append(hist, v.hist...), checkBudget, o.seed, o.dir, annotations(nr.events))
	rep := newReport(o, elapsed, ws, nr.events, v, lin)
	rep.print(out)
	if v.lost > 0 || v.unreadable > 0 || lin.result != porcupine.Ok {
		return 1, nil
	}
	return 0, nil
}

func settleError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return errInterrupted
	}
	return err
}

// annotations shows the nemesis actions in a visualization, on a row of
// their own.
func annotations(evs []*event) []porcupine.Annotation {
	var as []porcupine.Annotation
	for _, ev := range evs {
		as = append(as, porcupine.Annotation{
			Tag: "nemesis", Start: ev.at.Nanoseconds(), End: ev.back.Nanoseconds(),
			Description: ev.kind + " " + ev.target, BackgroundColor: "#f4cccc",
		})
	}
	return as
}
