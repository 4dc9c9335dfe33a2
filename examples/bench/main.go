package main

import (
	"crypto/rand"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

type options struct {
	duration    time.Duration
	concurrency int
	size        int
	sessions    int
	phases      map[string]bool // store, http, failover
	verbose     bool
	profile     string // directory for the apps' CPU profiles; "" for none
}

func main() {
	if spec := os.Getenv(appEnv); spec != "" {
		os.Exit(runApp(spec))
	}
	var o options
	flag.DurationVar(&o.duration, "duration", 3*time.Second, "measuring time per row")
	flag.IntVar(&o.concurrency, "concurrency", 16, "concurrent clients (HTTP) and callers (store throughput)")
	flag.IntVar(&o.size, "size", 1024, "session payload in bytes")
	flag.IntVar(&o.sessions, "sessions", 10000, "sessions created for the memory row")
	only := flag.String("only", "store,http,failover", "phases to run, comma-separated")
	flag.BoolVar(&o.verbose, "v", false, "show the app servers' logs")
	flag.StringVar(&o.profile, "profile", "", "write CPU profiles into this directory: the first app process of each HTTP row, and this process and the first node process during an extra, unmeasured run of each sessring store row's concurrent callers")
	flag.Parse()
	o.phases = map[string]bool{}
	for _, p := range strings.Split(*only, ",") {
		o.phases[strings.TrimSpace(p)] = true
	}
	if err := o.validate(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func (o options) validate() error {
	switch {
	case o.duration < 100*time.Millisecond || o.duration > 10*time.Minute:
		return fmt.Errorf("-duration %v: want between 100ms and 10m", o.duration)
	case o.concurrency < 1 || o.concurrency > 1024:
		return fmt.Errorf("-concurrency %d: want between 1 and 1024", o.concurrency)
	case o.size < 16 || o.size > 512<<10:
		return fmt.Errorf("-size %d: want between 16 and %d bytes", o.size, 512<<10)
	case o.sessions < 0 || o.sessions > 1_000_000:
		return fmt.Errorf("-sessions %d: want between 0 and 1000000", o.sessions)
	}
	for p := range o.phases {
		if p != "store" && p != "http" && p != "failover" {
			return fmt.Errorf("-only: unknown phase %q (want store, http, failover)", p)
		}
	}
	return nil
}

// run measures every row and prints the report.
func run(o options) error {
	started := time.Now()
	key := make([]byte, 32)
	rand.Read(key)
	rep := &report{o: o, started: started}
	rep.load[0] = loadAverage()
	mc, err := startMemcached()
	if err != nil {
		rep.skip("memcached", err)
	} else {
		defer mc.Close()
	}
	rd, err := startRedis()
	if err != nil {
		rep.skip("Redis", err)
	} else {
		defer rd.Close()
	}
	if o.phases["store"] {
		if err := rep.storeRows(key, mc, rd); err != nil {
			return fmt.Errorf("store level: %w", err)
		}
	}
	if o.phases["http"] {
		if err := rep.httpRows(key, mc, rd); err != nil {
			return fmt.Errorf("HTTP level: %w", err)
		}
	}
	if o.phases["failover"] {
		progress("failover: SIGKILL one of three app processes under load")
		if rep.failover, err = runFailover(o, key); err != nil {
			return fmt.Errorf("failover: %w", err)
		}
	}
	rep.elapsed = time.Since(started)
	rep.load[1] = loadAverage()
	rep.print(os.Stdout)
	return nil
}

func progress(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", a...)
}
