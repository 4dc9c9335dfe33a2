package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"time"
)

// upgradeLoad is four clients incrementing sessions through the nodes that
// are up, until stop. Each failed request is kept with the process that
// answered it, to be explained by that process's log.
type upgradeLoad struct {
	c      *upgradeCluster
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex // guards the fields below
	ok       int
	failures []failure
	slowest  time.Duration // the longest request of the phase
}

// failure is one request that failed, answered by proc.
type failure struct {
	proc *labNode
	at   time.Time
	err  error
}

func (c *upgradeCluster) startLoad(sessions []*labSession) *upgradeLoad {
	ctx, cancel := context.WithCancel(context.Background())
	l := &upgradeLoad{c: c, cancel: cancel}
	locks := make([]sync.Mutex, len(sessions))
	for w := range 4 {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 2))
			for ctx.Err() == nil {
				k := r.IntN(len(sessions))
				locks[k].Lock()
				i, proc, done, up := c.pick(r.IntN)
				if !up {
					locks[k].Unlock()
					time.Sleep(10 * time.Millisecond)
					continue
				}
				began := time.Now()
				_, err := c.incr(sessions[k], i)
				took := time.Since(began)
				done()
				locks[k].Unlock()
				l.record(proc, err, took)
			}
		}()
	}
	c.t.Cleanup(func() { l.stop() })
	return l
}

func (l *upgradeLoad) record(proc *labNode, err error, took time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.slowest = max(l.slowest, took)
	if err == nil {
		l.ok++
		return
	}
	if errors.Is(err, errStale) {
		l.c.t.Error(err)
	}
	l.failures = append(l.failures, failure{proc, time.Now(), err})
}

// phase returns the outcome of the requests since the last call.
func (l *upgradeLoad) phase() (ok int, failures []failure, slowest time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ok, failures, slowest = l.ok, l.failures, l.slowest
	l.ok, l.failures, l.slowest = 0, nil, 0
	return ok, failures, slowest
}

// stop ends the load and returns the outcome of the last phase.
func (l *upgradeLoad) stop() (ok int, failures []failure, slowest time.Duration) {
	l.cancel()
	l.wg.Wait()
	return l.phase()
}

// oldGrace is how long after a first-release node exits a lease it
// dropped may still fail a request: the request was running under the
// lock when the node handed its partitions over.
const oldGrace = time.Second

// classify splits failures into those the first release explains and the
// rest, described for an error message. A failure is explained only if it
// was a 503 whose cause, as the answering process logged it, is a lost
// lock lease, while a first-release node was in the cluster (or within
// oldGrace of its exit): such a node drops the leases of the partitions it
// hands over, on its leave and when a new node joins.
func (c *upgradeCluster) classify(failures []failure) (explained int, refused []string) {
	logged := map[*labNode][]logLine{}
	for _, f := range failures {
		if _, ok := logged[f.proc]; !ok {
			logged[f.proc] = c.middlewareFailures(f.proc)
		}
		var line logLine
		if lines := logged[f.proc]; len(lines) > 0 {
			line, logged[f.proc] = lines[0], lines[1:]
			c.mu.Lock()
			c.matched[f.proc]++
			c.mu.Unlock()
		}
		switch {
		case !strings.Contains(f.err.Error(), ": 503 "):
			refused = append(refused, f.err.Error())
		case line.text == "":
			refused = append(refused, fmt.Sprintf("%v (no matching failure in the log of %s)", f.err, f.proc.name))
		case strings.Contains(line.text, "lease lost") && c.oldRunning(line.at):
			explained++
			c.t.Logf("explained: %v: %s", f.err, line.text)
		default:
			refused = append(refused, fmt.Sprintf("%v: %s", f.err, line.text))
		}
	}
	return explained, refused
}

// logLine is one "session middleware failed" line of a node's log.
type logLine struct {
	at   time.Time
	text string
}

// middlewareFailures returns the failures proc logged, in order, after
// those already matched to a failed request.
func (c *upgradeCluster) middlewareFailures(proc *labNode) []logLine {
	c.mu.Lock()
	path, skip := c.procs[proc].log, c.matched[proc]
	c.mu.Unlock()
	b, err := os.ReadFile(path)
	if err != nil {
		c.t.Errorf("reading the log of %s: %v", proc.name, err)
	}
	var out []logLine
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.Contains(line, `msg="session middleware failed"`) {
			continue
		}
		ts, _, _ := strings.Cut(strings.TrimPrefix(line, "time="), " ")
		at, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			c.t.Errorf("log line of %s without a time: %s", proc.name, line)
		}
		out = append(out, logLine{at, line})
	}
	return out[min(skip, len(out)):]
}

// oldRunning reports whether a first-release node ran at t, or had exited
// at most oldGrace before.
func (c *upgradeCluster) oldRunning(t time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for n, p := range c.procs {
		if exited := n.exited(); p.old && !t.Before(n.started) && (exited.IsZero() || t.Before(exited.Add(oldGrace))) {
			return true
		}
	}
	return false
}
