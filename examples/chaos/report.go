package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/anishathalye/porcupine"
)

type report struct {
	o                    options
	elapsed              time.Duration
	ops, ok, errs, stale int
	errKinds             map[string]int
	events               []*event
	v                    verification
	lin                  verdict
}

func newReport(o options, elapsed time.Duration, ws []*worker, evs []*event, v verification, lin verdict) *report {
	rep := &report{o: o, elapsed: elapsed, events: evs, v: v, lin: lin, errKinds: map[string]int{}}
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

// nouns name each kind of action in the summary.
var nouns = map[string]string{
	"kill": "kill", "roll": "roll", "pause": "pause", "partition": "partition",
	"oneway": "one-way cut", "loss": "loss period",
}

func (rep *report) print(out io.Writer) {
	kinds, target, column := []string{"kill", "roll"}, "node", "restarted"
	if rep.o.netns {
		kinds, target, column = rep.o.nemeses, "target", "ended"
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(out)
	fmt.Fprintln(out, "nemesis actions (times since load start; unavailability = longest run of")
	fmt.Fprintln(out, "consecutive failed ops of one worker among ops started before the next action;")
	fmt.Fprintln(out, "slowest op = longest single op in that window, including ones that succeeded):")
	fmt.Fprintf(tw, "action\t%s\tat\t%s\tfailed ops\tunavailable ms\tslowest op ms", target, column)
	if rep.o.netns {
		fmt.Fprint(tw, "\tmember lost after")
	}
	fmt.Fprintln(tw)
	for _, ev := range rep.events {
		fmt.Fprintf(tw, "%s\t%s\t%.1fs\t%.1fs\t%d\t%d\t%d", ev.kind, ev.target, ev.at.Seconds(), ev.back.Seconds(), ev.failed, ev.unavail.Milliseconds(), ev.slowest.Milliseconds())
		if rep.o.netns {
			fmt.Fprintf(tw, "\t%s", lostAfter(ev))
		}
		fmt.Fprintln(tw)
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
	rep.printKinds(tw, kinds)
	fmt.Fprintf(tw, "tokens checked\t%d\n", rep.v.tokens)
	if rep.v.unreadable > 0 {
		fmt.Fprintf(tw, "tokens unreadable at the end\t%d\n", rep.v.unreadable)
	}
	fmt.Fprintf(tw, "history checked\t%d ops (%d failed writes nobody read left out) in %v\n", rep.lin.ops, rep.lin.pruned, rep.lin.took.Round(time.Millisecond))
	tw.Flush()
	rep.printVerdict(out)
	fmt.Fprintf(out, "acknowledged writes lost: %d\n", rep.v.lost)
	for _, e := range rep.v.examples {
		fmt.Fprintln(out, "  ", e)
	}
}

// printKinds prints how many actions of each kind there were, then the
// unavailability each caused.
func (rep *report) printKinds(tw io.Writer, kinds []string) {
	for _, kind := range kinds {
		n := 0
		for _, ev := range rep.events {
			if ev.kind == kind {
				n++
			}
		}
		fmt.Fprintf(tw, "%ss\t%d\n", nouns[kind], n)
	}
	for _, kind := range kinds {
		var worst time.Duration
		var ms []string
		for _, ev := range rep.events {
			if ev.kind == kind {
				worst = max(worst, ev.unavail)
				ms = append(ms, fmt.Sprint(ev.unavail.Milliseconds()))
			}
		}
		fmt.Fprintf(tw, "unavailability per %s (ms)\t%s\n", nouns[kind], list(ms))
		fmt.Fprintf(tw, "max after a %s (ms)\t%d\n", nouns[kind], worst.Milliseconds())
	}
}

// printVerdict prints the linearizability line, and what to look at when
// it is not ok.
func (rep *report) printVerdict(out io.Writer) {
	switch rep.lin.result {
	case porcupine.Ok:
		fmt.Fprintln(out, "linearizability: ok")
		return
	case porcupine.Illegal:
		fmt.Fprintln(out, "linearizability: VIOLATION")
		fmt.Fprintf(out, "   seed %d; tokens %s\n", rep.o.seed, strings.Join(rep.lin.illegal, " "))
		fmt.Fprintf(out, "   visualization: %s\n", rep.lin.visual)
		for _, l := range rep.lin.context {
			fmt.Fprintln(out, "    ", l)
		}
	default:
		fmt.Fprintln(out, "linearizability: UNDECIDED")
		fmt.Fprintf(out, "   seed %d; the checker could not decide within %v: counted as a failure\n", rep.o.seed, rep.lin.budget)
	}
}

// lostAfter says when another node first counted fewer members during ev.
func lostAfter(ev *event) string {
	switch {
	case !ev.watched:
		return "-"
	case ev.lost < 0:
		return "never"
	}
	return fmt.Sprintf("%.1fs", ev.lost.Seconds())
}

func list(s []string) string {
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, " ")
}

func oneLine(s string) string {
	s = strings.TrimSpace(strings.ReplaceAll(s, "\n", " "))
	if len(s) > 90 {
		s = s[:90] + "..."
	}
	return s
}
