// Command chaos runs a sessring cluster of real node processes on loopback
// under steady load while a nemesis kills (SIGKILL), restarts and rolls
// (SIGTERM, then restart) them at random, then checks that no acknowledged
// write was lost:
//
//	go run ./examples/chaos -nodes 5 -duration 60s
//
// It exits with status 1 when an acknowledged write was lost (or a token
// could not be read back to check).
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"syscall"
	"time"
)

type options struct {
	nodes    int
	duration time.Duration
	workers  int
	seed     uint64
	verbose  bool
}

// secretKey is the fixed 32-byte cluster key (loopback test only).
var secretKey = []byte("sessring-chaos-fixed-test-key-32")

func main() {
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(runChild(spec))
	}
	var o options
	flag.IntVar(&o.nodes, "nodes", 5, "node processes (at least 3)")
	flag.DurationVar(&o.duration, "duration", 60*time.Second, "time under load and chaos")
	flag.IntVar(&o.workers, "workers", 8, "client goroutines")
	flag.Uint64Var(&o.seed, "seed", 0, "nemesis seed (0: random)")
	flag.BoolVar(&o.verbose, "v", false, "show the nodes' logs")
	flag.Parse()
	if o.nodes < 3 || o.workers < 1 || o.duration <= 0 {
		fmt.Fprintln(os.Stderr, "chaos: need -nodes >= 3, -workers >= 1, -duration > 0")
		os.Exit(2)
	}
	if o.seed == 0 {
		o.seed = rand.Uint64()
	}
	code, err := run(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func progress(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, a...)...)
}

func run(o options) (int, error) {
	fmt.Printf("chaos: nodes=%d duration=%v workers=%d seed=%d\n", o.nodes, o.duration, o.workers, o.seed)
	probe := &http.Client{Timeout: 2 * time.Second}
	c, err := newCluster(o.nodes, secretKey, o.verbose)
	if err != nil {
		return 0, err
	}
	defer c.stopAll()
	if err := c.startAll(); err != nil {
		return 0, err
	}
	if !c.waitHealthy(probe, 60*time.Second) {
		return 0, fmt.Errorf("cluster of %d did not settle within 60s", o.nodes)
	}
	progress("cluster of %d settled; load and chaos for %v", o.nodes, o.duration)

	t0 := time.Now()
	end := t0.Add(o.duration)
	ws := make([]*worker, o.workers)
	done := make(chan struct{})
	for w := range ws {
		ws[w] = newWorker(w, c, o.seed)
		go func() { ws[w].run(t0, end); done <- struct{}{} }()
	}
	type nemResult struct {
		events []*event
		err    error
	}
	nem := make(chan nemResult, 1)
	go func() {
		evs, err := nemesis(c, probe, o.seed, t0, end)
		nem <- nemResult{evs, err}
	}()
	for range ws {
		<-done
	}
	elapsed := time.Since(t0)
	nr := <-nem // the last action may finish after the load stopped
	if nr.err != nil {
		return 0, nr.err
	}
	events := nr.events

	progress("load stopped; waiting for the cluster to settle")
	if !c.waitHealthy(probe, 60*time.Second) {
		return 0, fmt.Errorf("cluster did not settle within 60s after the run")
	}
	progress("settled; reading every token back")
	v := verify(c, ws, o.seed)
	rep := newReport(o, elapsed, ws, events, v)
	rep.print(os.Stdout)
	if v.lost > 0 || v.unreadable > 0 {
		return 1, nil
	}
	return 0, nil
}

// event is one nemesis action.
type event struct {
	kind    string // "kill" or "roll"
	slot    string
	at      time.Duration // since t0: the signal
	back    time.Duration // since t0: the restarted node is READY
	until   time.Duration // since t0: the next action (or the end of load)
	failed  int           // ops started in [at, until) that failed
	unavail time.Duration // longest run of consecutive failures
	slowest time.Duration // longest single op
}

// nemesis runs one action every 3-6s until end, one node down at most. It
// waits for the cluster to be healthy (all members seen, no partition
// pending) before each action, so every fault is a single fault.
func nemesis(c *cluster, probe *http.Client, seed uint64, t0, end time.Time) ([]*event, error) {
	r := rand.New(rand.NewPCG(seed, 0x6e656d))
	var evs []*event
	for {
		wait := 3*time.Second + time.Duration(r.Int64N(int64(3*time.Second)))
		time.Sleep(min(wait, time.Until(end)))
		// An action needs load after it to be measured: none in the last 4s.
		if time.Until(end) < 4*time.Second || !c.waitHealthy(probe, time.Until(end)) || time.Until(end) < 4*time.Second {
			break
		}
		i := r.IntN(len(c.slots))
		ev := &event{slot: c.slots[i].name}
		p := c.down(i)
		if r.IntN(2) == 0 {
			ev.kind = "kill"
			ev.at = time.Since(t0)
			p.child.Kill()
			progress("kill %s", ev.slot)
			time.Sleep(2*time.Second + time.Duration(r.Int64N(int64(2*time.Second))))
		} else {
			ev.kind = "roll"
			ev.at = time.Since(t0)
			p.child.Signal(syscall.SIGTERM)
			select {
			case <-p.child.Done():
			case <-time.After(30 * time.Second):
				p.child.Kill()
				progress("roll %s: no exit 30s after SIGTERM, killed", ev.slot)
			}
			progress("roll %s: SIGTERM, exited after %v", ev.slot, (time.Since(t0) - ev.at).Round(time.Millisecond))
		}
		if err := c.restart(i); err != nil {
			return evs, fmt.Errorf("restart %s: %w", ev.slot, err)
		}
		ev.back = time.Since(t0)
		progress("restarted %s", ev.slot)
		evs = append(evs, ev)
	}
	for i, ev := range evs {
		ev.until = end.Sub(t0)
		if i+1 < len(evs) {
			ev.until = evs[i+1].at
		}
	}
	return evs, nil
}
