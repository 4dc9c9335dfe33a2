package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

type report struct {
	o                    options
	elapsed              time.Duration
	ops, ok, errs, stale int
	errKinds             map[string]int
	events               []*event
	v                    verification
}

func newReport(o options, elapsed time.Duration, ws []*worker, evs []*event, v verification) *report {
	rep := &report{o: o, elapsed: elapsed, events: evs, v: v, errKinds: map[string]int{}}
	for _, w := range ws {
		rep.ops += len(w.ops)
		for _, op := range w.ops {
			if op.ok {
				rep.ok++
			} else {
				rep.errs++
			}
		}
		rep.stale += w.staleReads
		for k, n := range w.errKinds {
			rep.errKinds[k] += n
		}
	}
	for _, ev := range evs {
		ev.failed, ev.unavail, ev.slowest = unavailability(ws, ev.at, ev.until)
	}
	return rep
}

// unavailability measures one action: among the ops each worker started in
// [from, until), the longest run of consecutive failures, from the start of
// its first failed op to the end of its last, the maximum over workers; and
// the number of failed ops.
func unavailability(ws []*worker, from, until time.Duration) (failed int, longest, slowest time.Duration) {
	for _, w := range ws {
		runStart := time.Duration(-1)
		for _, op := range w.ops {
			if op.start < from || op.start >= until {
				continue
			}
			slowest = max(slowest, op.end-op.start)
			if op.ok {
				runStart = -1
				continue
			}
			failed++
			if runStart < 0 {
				runStart = op.start
			}
			longest = max(longest, op.end-runStart)
		}
	}
	return failed, longest, slowest
}

func (rep *report) print(out io.Writer) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	kills, rolls := 0, 0
	var maxKill, maxRoll time.Duration
	var killMs, rollMs []string
	for _, ev := range rep.events {
		ms := fmt.Sprint(ev.unavail.Milliseconds())
		if ev.kind == "kill" {
			kills++
			maxKill = max(maxKill, ev.unavail)
			killMs = append(killMs, ms)
		} else {
			rolls++
			maxRoll = max(maxRoll, ev.unavail)
			rollMs = append(rollMs, ms)
		}
	}
	fmt.Fprintln(out)
	fmt.Fprintln(out, "nemesis actions (times since load start; unavailability = longest run of")
	fmt.Fprintln(out, "consecutive failed ops of one worker among ops started before the next action;")
	fmt.Fprintln(out, "slowest op = longest single op in that window, including ones that succeeded):")
	fmt.Fprintln(tw, "action\tnode\tat\trestarted\tfailed ops\tunavailable ms\tslowest op ms")
	for _, ev := range rep.events {
		fmt.Fprintf(tw, "%s\t%s\t%.1fs\t%.1fs\t%d\t%d\t%d\n", ev.kind, ev.slot, ev.at.Seconds(), ev.back.Seconds(), ev.failed, ev.unavail.Milliseconds(), ev.slowest.Milliseconds())
	}
	tw.Flush()
	fmt.Fprintln(out)
	fmt.Fprintln(tw, "summary\t")
	fmt.Fprintf(tw, "duration\t%v\n", rep.elapsed.Round(time.Millisecond))
	fmt.Fprintf(tw, "nodes\t%d\n", rep.o.nodes)
	fmt.Fprintf(tw, "workers\t%d\n", rep.o.workers)
	fmt.Fprintf(tw, "seed\t%d\n", rep.o.seed)
	fmt.Fprintf(tw, "ops\t%d (%.0f/s)\n", rep.ops, float64(rep.ops)/rep.elapsed.Seconds())
	fmt.Fprintf(tw, "ok\t%d\n", rep.ok)
	fmt.Fprintf(tw, "errors seen by clients\t%d\n", rep.errs)
	for _, k := range slices.Sorted(maps.Keys(rep.errKinds)) {
		fmt.Fprintf(tw, "  %s\t%d\n", oneLine(k), rep.errKinds[k])
	}
	fmt.Fprintf(tw, "stale reads\t%d\n", rep.stale)
	fmt.Fprintf(tw, "kills\t%d\n", kills)
	fmt.Fprintf(tw, "rolls\t%d\n", rolls)
	fmt.Fprintf(tw, "unavailability per kill (ms)\t%s\n", list(killMs))
	fmt.Fprintf(tw, "max after a kill (ms)\t%d\n", maxKill.Milliseconds())
	fmt.Fprintf(tw, "unavailability per roll (ms)\t%s\n", list(rollMs))
	fmt.Fprintf(tw, "max after a roll (ms)\t%d\n", maxRoll.Milliseconds())
	fmt.Fprintf(tw, "tokens checked\t%d\n", rep.v.tokens)
	if rep.v.unreadable > 0 {
		fmt.Fprintf(tw, "tokens unreadable at the end\t%d\n", rep.v.unreadable)
	}
	tw.Flush()
	fmt.Fprintf(out, "acknowledged writes lost: %d\n", rep.v.lost)
	for _, e := range rep.v.examples {
		fmt.Fprintln(out, "  ", e)
	}
}

func list(s []string) string {
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, " ")
}

func oneLine(s string) string {
	s = strings.TrimSpace(strings.ReplaceAll(s, "\n", " "))
	if len(s) > 60 {
		s = s[:60] + "..."
	}
	return s
}
