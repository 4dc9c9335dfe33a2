package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/e5b1d45c/sessring/examples/internal/demo"
)

// runChild runs one node of the cluster: the demo app with examples/node's
// flags plus -controls. It leaves gracefully when its stdin closes (the
// cluster command asks it to, or died) or on SIGINT/SIGTERM; SIGKILL is the
// crash.
func runChild(args []string) int {
	var o demo.Options
	fs := flag.NewFlagSet("cluster node", flag.ContinueOnError)
	o.RegisterFlags(fs)
	fs.Func("controls", "names of every node of the demo, for the page's crash and start buttons", func(s string) error {
		o.Controls = strings.FieldsFunc(s, func(r rune) bool { return r == ',' })
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		io.Copy(io.Discard, os.Stdin) // returns when the parent closes it or exits
		cancel()
	}()
	if err := demo.Run(ctx, o); err != nil {
		fmt.Fprintf(os.Stderr, "node %s: %v\n", o.Name, err)
		return 1
	}
	return 0
}
