package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild(os.Args[1:]))
	}
	os.Exit(run(os.Args[1:]))
}

// options configures a demo cluster.
type options struct {
	nodes     int
	listen    string
	sticky    bool
	memcached string

	exe            string    // the executable run as child nodes; default os.Executable
	stdout, stderr io.Writer // the banner and notices; the nodes' logs
}

func run(args []string) int {
	o := options{stdout: os.Stdout, stderr: os.Stderr}
	fs := flag.NewFlagSet("cluster", flag.ContinueOnError)
	fs.IntVar(&o.nodes, "nodes", 3, "number of nodes")
	fs.StringVar(&o.listen, "listen", "127.0.0.1:8080", "load balancer address")
	fs.BoolVar(&o.sticky, "sticky", false, "pin each client to one node with a cookie")
	fs.StringVar(&o.memcached, "memcached", "", "memcached host:port for the optional cold tier")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "cluster: unexpected arguments %q\n", fs.Args())
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c, err := startCluster(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		return 1
	}
	c.printBanner()
	select {
	case <-ctx.Done():
	case err = <-c.served:
		fmt.Fprintln(os.Stderr, "cluster: balancer:", err)
	}
	fmt.Fprintln(o.stdout, "shutting down: every node hands its sessions over and leaves")
	c.close()
	if err != nil {
		return 1
	}
	return 0
}

// warnIfExposed warns when the balancer, whose buttons kill processes, is
// reachable from other machines.
func warnIfExposed(o options, w io.Writer) {
	host, _, _ := net.SplitHostPort(o.listen)
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		fmt.Fprintf(w, "warning: -listen %s is not loopback: anyone who reaches it can crash the nodes\n", o.listen)
	}
}
