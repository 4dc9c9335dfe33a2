package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// HTTP level: three app server processes behind the round-robin load
// balancer (this process), driven by -concurrency clients (this process),
// each cycling through sessionsPerClient sessions with the read-and-update
// handler.

const sessionsPerClient = 4

// httpCase is one HTTP row.
type httpCase struct {
	name    string
	backend string
	sticky  bool       // sticky LB and tokens owned by the node that minted them
	addr    string     // memcached or Redis
	server  *extServer // the process behind addr, for its CPU time
	note    string
}

// httpRun is a finished HTTP row.
type httpRun struct {
	c         httpCase
	res       *loadResult
	mem       *memResult // sessring non-sticky only
	forwarded uint64     // store calls forwarded to another node (sessring)
	cpu       *cpuUse    // CPU time of every process the row used, during the run
}

// runHTTP runs one case; measureMem also fills the cluster afterwards and
// measures memory per node.
func runHTTP(o options, key []byte, c httpCase, measureMem bool) (*httpRun, error) {
	spec := appSpec{Backend: c.backend, Sticky: c.sticky, Key: key, Addr: c.addr, Size: o.size, Verbose: o.verbose}
	apps, err := startApps(spec, 3)
	if err != nil {
		return nil, err
	}
	defer stopApps(apps)
	bal, err := newBalancer(httpAddrs(apps), c.sticky, o.concurrency*2)
	if err != nil {
		return nil, err
	}
	addr, stop, err := bal.ServeLoopback()
	if err != nil {
		return nil, err
	}
	defer stop()
	l := newLoader(addr, o.concurrency, sessionsPerClient, c.backend != backendNone)
	defer l.close()
	if err := l.prime(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.duration)
	defer cancel()
	before := forwarded(apps)
	profiled := profileApp(o, apps[0], c.name)
	run := &httpRun{c: c}
	run.cpu, err = measureCPU(rowProcesses(apps, c.server), func() { run.res = l.run(ctx) })
	if err != nil {
		return nil, fmt.Errorf("CPU time: %w", err)
	}
	run.forwarded = forwarded(apps) - before
	if err := <-profiled; err != nil {
		progress("  profile: %v", err)
	}
	if measureMem {
		if run.mem, err = measureMemory(apps, o.sessions); err != nil {
			return nil, fmt.Errorf("memory: %w", err)
		}
	}
	return run, nil
}

// profileApp fetches a CPU profile of a for most of the run into
// o.profile/<row>.pprof (for go tool pprof), when -profile is set. The
// channel yields the outcome once the profile is written.
func profileApp(o options, a *appProc, row string) <-chan error {
	done := make(chan error, 1)
	if o.profile == "" {
		done <- nil
		return done
	}
	secs := max(1, int(o.duration.Seconds())-1)
	name := filepath.Join(o.profile, strings.NewReplacer(" ", "-", ",", "", ":", "", "(", "", ")", "").Replace(row)+".pprof")
	go func() {
		body, err := a.get(fmt.Sprintf("/_profile?seconds=%d", secs))
		if err == nil {
			err = os.WriteFile(name, []byte(body), 0o644)
		}
		done <- err
	}()
	return done
}

// rowProcesses is every process an HTTP row uses: the app servers, this
// process (balancer and load generator) and the session server, if any.
func rowProcesses(apps []*appProc, server *extServer) *cpuSet {
	s := &cpuSet{}
	var pids []int
	for _, a := range apps {
		pids = append(pids, a.child.Pid())
	}
	s.add("apps", pids...)
	s.add("LB+load", os.Getpid())
	if server != nil {
		s.add(server.name(), server.cmd.Process.Pid)
	}
	return s
}

// forwarded sums the apps' forwarded store calls (0 without sessring).
func forwarded(apps []*appProc) uint64 {
	var n uint64
	for _, a := range apps {
		if st, err := a.stats(false); err == nil {
			n += st.Forwarded
		}
	}
	return n
}

func httpAddrs(apps []*appProc) []string {
	var out []string
	for _, a := range apps {
		out = append(out, a.http)
	}
	return out
}

// memResult is the memory cost of total sessions, averaged per node.
type memResult struct {
	total      int     // sessions created in the cluster
	copies     float64 // session copies gained per node (owner + replica)
	bytesHeld  float64 // Stats().BytesHeld gained per node
	heap       float64 // live heap gained per node, after GC
	failedFill int64
}

// measureMemory creates total sessions of the handler's shape through all
// nodes and reports what each node gained, after a full GC.
func measureMemory(apps []*appProc, total int) (*memResult, error) {
	before, err := allStats(apps)
	if err != nil {
		return nil, err
	}
	errs := make([]error, len(apps))
	failed := make([]int64, len(apps))
	var wg sync.WaitGroup
	for i, a := range apps {
		n := total / len(apps)
		if i < total%len(apps) {
			n++
		}
		wg.Go(func() {
			body, err := a.get(fmt.Sprintf("/_fill?n=%d", n))
			if err == nil {
				_, err = fmt.Sscan(body, &failed[i])
			}
			errs[i] = err
		})
	}
	wg.Wait()
	after, err := allStats(apps)
	if err != nil {
		return nil, err
	}
	m := &memResult{total: total}
	for i := range apps {
		if errs[i] != nil {
			return nil, errs[i]
		}
		m.failedFill += failed[i]
		m.copies += float64(after[i].Sessions-before[i].Sessions) / float64(len(apps))
		m.bytesHeld += float64(after[i].BytesHeld-before[i].BytesHeld) / float64(len(apps))
		m.heap += (float64(after[i].HeapAlloc) - float64(before[i].HeapAlloc)) / float64(len(apps))
	}
	return m, nil
}

func allStats(apps []*appProc) ([]appStats, error) {
	out := make([]appStats, len(apps))
	for i, a := range apps {
		st, err := a.stats(true)
		if err != nil {
			return nil, err
		}
		out[i] = st
	}
	return out, nil
}

// waitFor polls cond every 20ms until it holds or timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}
