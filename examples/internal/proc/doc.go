// Package proc runs the example commands' nodes as child processes, so
// that a demo, a benchmark or a chaos run can crash one with a real
// SIGKILL: no handover, no goodbye, sockets closed by the kernel, as when a
// server dies.
//
// # Starting
//
// A child writes a ready line to its stdout once it serves (its addresses,
// say) or an error line if it cannot. [Self] returns a command that runs
// this executable again, told by an environment variable to be a node;
// [Start] starts a command and returns once a [Ready] func accepts a line
// of its stdout, killing the child if the func rejects a line, the child
// exits first or it takes longer than a timeout. [Expect] is the Ready func
// for the usual protocol: the first line is "READY addr..." or an error.
//
// # Stopping
//
// A child reads its stdin until EOF and then leaves gracefully. [Child.Stop]
// closes the child's stdin and kills it if it takes longer than a grace
// period; [Child.Kill] is the crash.
//
// # Tying children to the parent
//
// [DieWithParent] has the kernel kill a child when this process dies
// (Linux), so an interrupted run leaves no nodes behind; elsewhere children
// leave once their stdin closes, which happens when this process exits.
// [OwnGroup] puts a child in its own process group (Unix), so that Ctrl-C in
// a terminal reaches only this process, which then stops its children in
// order.
package proc
