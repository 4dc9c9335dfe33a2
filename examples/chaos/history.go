package main

import (
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/e5b1d45c/sessring/internal/lincheck"
)

// The history check: every token is a register (its value an int64, 0 while
// absent) read and written by its worker, and the whole history of client
// operations must be linearizable, token by token, as in store's in-memory
// linearizability test. It sees what the end-of-run read-back cannot: a
// stale read in the middle of the run that a later write covered up.

// regInput is one client operation on a token.
type regInput struct {
	token string
	write bool
	value int64 // written (a write); the output holds what a read saw
}

// neverReturned is the return time of a write whose outcome is unknown: it
// may take effect at any time after its call.
const neverReturned = int64(1) << 62

var regModel = porcupine.Model{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		byToken := map[string][]porcupine.Operation{}
		for _, op := range h {
			k := op.Input.(regInput).token
			byToken[k] = append(byToken[k], op)
		}
		var out [][]porcupine.Operation
		for _, ops := range byToken {
			out = append(out, ops)
		}
		return out
	},
	Init: func() any { return int64(0) },
	Step: func(state, input, output any) (bool, any) {
		if in := input.(regInput); in.write {
			return true, in.value
		}
		return output.(int64) == state.(int64), state
	},
	DescribeOperation: func(input, output any) string {
		in := input.(regInput)
		if in.write {
			return fmt.Sprintf("%s := %d", in.token, in.value)
		}
		return fmt.Sprintf("read %s -> %s", in.token, describeValue(output.(int64)))
	},
	DescribeState: func(state any) string { return describeValue(state.(int64)) },
	DescribeOperationMetadata: func(info any) string {
		if info == nil {
			return ""
		}
		return "via " + info.(string)
	},
}

func describeValue(v int64) string {
	if v == 0 {
		return "absent"
	}
	return strconv.FormatInt(v, 10)
}

// verdict is the outcome of the history check.
type verdict struct {
	result  porcupine.CheckResult
	ops     int           // operations checked
	pruned  int           // failed writes no read observed, left out
	took    time.Duration // checking time
	budget  time.Duration
	illegal []string // tokens whose history alone is not linearizable (a few)
	context []string // the operations leading to the first unexplained one, per illegal token
	visual  string   // the porcupine visualization of the illegal tokens
}

// checkBudget bounds the check of the whole history, and again its retry
// token by token. Each token's history is short and nearly sequential (one
// worker per token), so this is generous; a check that stays undecided is
// reported as such, which fails the run.
const checkBudget = 60 * time.Second

// check checks ops (sorted by call time in place). On a violation it saves a
// visualization of the offending tokens in dir, named after seed. notes
// become annotations of the visualization (the nemesis actions).
func check(ops []porcupine.Operation, budget time.Duration, seed uint64, dir string, notes []porcupine.Annotation) verdict {
	ops, pruned := prune(ops)
	sort.SliceStable(ops, func(i, j int) bool { return ops[i].Call < ops[j].Call })
	v := verdict{ops: len(ops), pruned: pruned, budget: budget}
	start := time.Now()
	v.result = lincheck.Check(regModel, ops, budget).Verdict
	v.took = time.Since(start)
	if v.result != porcupine.Illegal {
		return v
	}
	var bad []porcupine.Operation
	for _, part := range regModel.Partition(ops) {
		if len(v.illegal) == 5 || time.Since(start) > 2*budget {
			break
		}
		if porcupine.CheckOperationsTimeout(regModel, part, budget/10) != porcupine.Illegal {
			continue
		}
		sort.SliceStable(part, func(i, j int) bool { return part[i].Call < part[j].Call })
		v.illegal = append(v.illegal, part[0].Input.(regInput).token)
		v.context = append(v.context, firstUnexplained(part, budget/10)...)
		bad = append(bad, part...)
	}
	_, info := porcupine.CheckOperationsVerbose(regModel, bad, budget)
	info.AddAnnotations(notes)
	v.visual = filepath.Join(dir, fmt.Sprintf("sessring-chaos-%d.html", seed))
	if err := porcupine.VisualizePath(regModel, info, v.visual); err != nil {
		v.visual = "(not saved: " + err.Error() + ")"
	}
	return v
}

// prune leaves out the failed writes whose value no read returned. Such a
// write can always be linearized last, after every other operation (it never
// returned, so nothing has to follow it), where it changes no read; and if
// the history is linearizable with it, the write is followed by a write or
// nothing (a read right after it would have returned its value), so removing
// it changes no read either. Without this, every failed write would stay
// concurrent with the rest of its token's history, and a token with many of
// them (a long pause) could make the search exponential.
func prune(ops []porcupine.Operation) ([]porcupine.Operation, int) {
	type seen struct {
		token string
		value int64
	}
	observed := map[seen]bool{}
	for _, op := range ops {
		if in := op.Input.(regInput); !in.write {
			observed[seen{in.token, op.Output.(int64)}] = true
		}
	}
	kept := make([]porcupine.Operation, 0, len(ops))
	for _, op := range ops {
		in := op.Input.(regInput)
		if in.write && op.Return == neverReturned && !observed[seen{in.token, in.value}] {
			continue
		}
		kept = append(kept, op)
	}
	return kept, len(ops) - len(kept)
}

// firstUnexplained describes the operations of one token (in call order, not
// linearizable) up to the first one no linearization of the prefix explains.
func firstUnexplained(part []porcupine.Operation, budget time.Duration) []string {
	lo, hi := 1, len(part)
	for lo < hi {
		mid := (lo + hi) / 2
		if porcupine.CheckOperationsTimeout(regModel, part[:mid], budget) == porcupine.Illegal {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	var lines []string
	for _, op := range part[max(0, lo-15):lo] {
		ret := fmt.Sprintf("%.3fs", float64(op.Return)/1e9)
		if op.Return == neverReturned {
			ret = "failed"
		}
		lines = append(lines, fmt.Sprintf("[%.3fs, %s] client %d %s: %s", float64(op.Call)/1e9, ret,
			op.ClientId, regModel.DescribeOperationMetadata(op.Metadata), regModel.DescribeOperation(op.Input, op.Output)))
	}
	return lines
}
