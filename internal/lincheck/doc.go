// Package lincheck runs the linearizability checker (porcupine) for
// sessring's fault tests (store's in-memory scenarios, examples/chaos) so
// that an undecided check never counts as a pass.
//
// # Why
//
// porcupine answers Ok, Illegal or Unknown; Unknown means its time budget
// ran out before it found a linearization or proved there is none. A test
// that treats Unknown as Ok passes exactly when the history was too hard to
// check, which is when a bug is most likely hiding.
//
// # What Check does
//
// Check runs the whole history once. On Unknown it retries with shorter
// histories: every partition of the model (one session, one token) on its
// own, shortest first, each with an even share of what is left of a second
// budget. It returns Ok
// only when every history it checked was proven linearizable, Illegal when
// one was proven not to be, and Unknown otherwise. Callers fail on anything
// but Ok.
package lincheck
