package lincheck

import (
	"slices"
	"time"

	"github.com/anishathalye/porcupine"
)

// Result is the outcome of Check.
type Result struct {
	// Verdict is Ok only when the history was proven linearizable.
	Verdict porcupine.CheckResult
	// Info is porcupine's account of the check that decided Verdict: the
	// whole history, or on a retry the first illegal partition. Pass it to
	// porcupine.VisualizePath.
	Info porcupine.LinearizationInfo
	// Retried says the whole history was undecided and Check went on
	// partition by partition.
	Retried bool
	// Undecided counts the partitions that stayed undecided on the retry
	// (those the retry budget did not reach included).
	Undecided int
}

// Check checks ops against model within budget, and again within budget
// partition by partition when the first answer is Unknown (see the package
// comment). It takes at most about twice budget.
func Check(model porcupine.Model, ops []porcupine.Operation, budget time.Duration) Result {
	res, info := porcupine.CheckOperationsVerbose(model, ops, budget)
	if res != porcupine.Unknown {
		return Result{Verdict: res, Info: info}
	}
	return retry(model, partitions(model, ops), budget)
}

// retry checks parts one at a time, shortest first, each with an even share
// of what is left of budget: one hard partition cannot starve the others,
// and the time the easy ones leave goes to the long ones.
func retry(model porcupine.Model, parts [][]porcupine.Operation, budget time.Duration) Result {
	parts = slices.Clone(parts)
	slices.SortStableFunc(parts, func(a, b []porcupine.Operation) int { return len(a) - len(b) })
	r := Result{Verdict: porcupine.Ok, Retried: true}
	deadline := time.Now().Add(budget)
	for i, part := range parts {
		share := time.Until(deadline) / time.Duration(len(parts)-i)
		if share <= 0 {
			r.Undecided += len(parts) - i
			break
		}
		res, info := porcupine.CheckOperationsVerbose(model, part, share)
		switch res {
		case porcupine.Illegal:
			return Result{Verdict: porcupine.Illegal, Info: info, Retried: true}
		case porcupine.Unknown:
			r.Undecided++
		}
	}
	if r.Undecided > 0 {
		r.Verdict = porcupine.Unknown
	}
	return r
}

// partitions splits ops as model does (one history when it does not).
func partitions(model porcupine.Model, ops []porcupine.Operation) [][]porcupine.Operation {
	if model.Partition == nil {
		return [][]porcupine.Operation{ops}
	}
	return model.Partition(ops)
}
