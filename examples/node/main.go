// Command node runs one sessring demo node per process: a small web app
// with a session counter, a JSON API, /healthz, /status and /metrics. Start
// several, join them, and kill one.
//
//	go run ./examples/node -name a -http 127.0.0.1:8081 -bind 127.0.0.1:7946
//	go run ./examples/node -name b -http 127.0.0.1:8082 -bind 127.0.0.1:7947 -join 127.0.0.1:7946
//	go run ./examples/node -name c -http 127.0.0.1:8083 -bind 127.0.0.1:7948 -join 127.0.0.1:7946
//
// The cluster key (-key) may come from the environment instead, as hex in
// SESSRING_KEY, where other users of the machine cannot read it.
//
// SIGTERM or Ctrl-C shuts the node down gracefully: it hands its sessions
// to the others and leaves. SIGKILL is a crash: the others notice within
// about three seconds and the sessions' replicas take over.
//
// The API (see examples/README.md):
//
//	POST /api/incr     {"session","count","served_by","owner","replica"}, with the session cookie
//	GET  /api/session  the same without incrementing; 404 without a live session
//	GET  /api/cluster  {"self","members":[{"name","owned","replicas"}]}
//	GET  /healthz      200 once joined, 503 before and while shutting down
//	GET  /readyz       200 once joined and its share of partitions pulled; 503 with the reason otherwise
//	GET  /livez        200 while the process is alive
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/e5b1d45c/sessring/examples/internal/demo"
)

// keyEnv holds the cluster key in hex when -key is not given.
const keyEnv = demo.KeyEnv

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// run parses args and serves until SIGINT or SIGTERM; it returns the exit
// code. Usage and errors go to stderr.
func run(args []string, stderr io.Writer) int {
	var o demo.Options
	fs := flag.NewFlagSet("node", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "node: unexpected arguments %q\n", fs.Args())
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := demo.Run(ctx, o); err != nil {
		fmt.Fprintln(stderr, "node:", err)
		return 1
	}
	return 0
}
