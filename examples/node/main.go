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
