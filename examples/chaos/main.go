package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/e5b1d45c/sessring/internal/netlab"
)

type options struct {
	nodes    int
	duration time.Duration
	workers  int
	seed     uint64
	verbose  bool
	netns    bool
	nemeses  []string      // -netns faults to draw from
	gap      time.Duration // -netns: between faults, gap to 2*gap
	dir      string        // where a violation's visualization goes
}

// errUnavailable fails a -netns run on a machine without network namespaces.
var errUnavailable = errors.New("chaos: -netns needs network namespaces")

func main() {
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(runChild(spec))
	}
	o, err := parseFlags()
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(2)
	}
	// SIGINT or SIGTERM ends the run early; run still stops every node and
	// removes the lab before it returns.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code, err := run(ctx, o, os.Stdout)
	stop()
	switch {
	case errors.Is(err, errUnavailable):
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func parseFlags() (options, error) {
	o := options{gap: 3 * time.Second, dir: os.TempDir()}
	flag.IntVar(&o.nodes, "nodes", 5, "node processes (at least 3)")
	flag.DurationVar(&o.duration, "duration", 60*time.Second, "time under load and chaos")
	flag.IntVar(&o.workers, "workers", 8, "client goroutines")
	flag.Uint64Var(&o.seed, "seed", 0, "nemesis seed (0: random)")
	flag.BoolVar(&o.verbose, "v", false, "show the nodes' logs")
	flag.BoolVar(&o.netns, "netns", false, "run each node in its own network namespace (root; iproute2 and nftables)")
	nemeses := flag.String("nemesis", strings.Join(faultKinds, ","), "with -netns: the faults to draw from")
	flag.Parse()
	if o.nodes < 3 || o.workers < 1 || o.duration <= 0 {
		return o, errors.New("need -nodes >= 3, -workers >= 1, -duration > 0")
	}
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "nemesis" })
	if set && !o.netns {
		return o, errors.New("-nemesis needs -netns (on loopback the nemesis kills and rolls)")
	}
	var err error
	if o.nemeses, err = parseNemeses(*nemeses); err != nil {
		return o, err
	}
	if o.seed == 0 {
		o.seed = mrand.Uint64()
	}
	return o, nil
}

func progress(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, a...)...)
}

// run runs one chaos run and prints its report to out. It returns 1 if the
// check failed, and an error if the run could not be carried out (or was
// interrupted).
func run(ctx context.Context, o options, out io.Writer) (int, error) {
	key := make([]byte, 32) // a fresh cluster key: nodes on real addresses need one
	rand.Read(key)
	if !o.netns {
		fmt.Fprintf(out, "chaos: nodes=%d duration=%v workers=%d seed=%d\n", o.nodes, o.duration, o.workers, o.seed)
		c, err := newCluster(o.nodes, key, o.verbose)
		if err != nil {
			return 0, err
		}
		return runLoad(ctx, o, out, c, nil)
	}
	fmt.Fprintf(out, "chaos: netns nodes=%d duration=%v workers=%d nemesis=%s seed=%d\n",
		o.nodes, o.duration, o.workers, strings.Join(o.nemeses, ","), o.seed)
	if err := netlab.Available(); err != nil {
		return 0, fmt.Errorf("%w: %v", errUnavailable, err)
	}
	lab, err := netlab.New(o.nodes)
	if err != nil {
		return 0, err
	}
	defer func() {
		if err := lab.Close(); err != nil {
			progress("removing the lab: %v", err)
		}
	}()
	progress("lab of %d hosts on %s/24", o.nodes, lab.Gateway)
	return runLoad(ctx, o, out, newLabCluster(lab, key, o.verbose), lab)
}
