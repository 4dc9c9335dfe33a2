package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// report collects the rows and prints them as one markdown table.
type report struct {
	o        options
	started  time.Time
	elapsed  time.Duration
	load     [2]string // 1-minute load average at start and end
	skips    []string
	store    []storeRow
	http     []*httpRun
	failover *failoverResult
}

// storeRow is one store-level measurement; base names the memcached row it
// is compared with ("get" or "set").
type storeRow struct {
	name, base, target string
	r                  opResult
}

func (rep *report) skip(what string, err error) {
	rep.skips = append(rep.skips, fmt.Sprintf("%s rows skipped: %v", what, err))
	progress("%s rows skipped: %v", what, err)
}

// Names of the store rows the summary line compares.
const (
	rowFindRemote   = "sessring Find, remote owner"
	rowCommitOwner  = "sessring Commit at owner (Sync replica)"
	rowMemcachedGet = "memcached get (gomemcache)"
	rowMemcachedSet = "memcached set"
)

// storeCase is a store-level row to measure.
type storeCase struct {
	row   storeRow
	mk    opMaker
	procs *cpuSet // the processes whose CPU time the row uses
}

// storeRows measures the store-level rows.
func (rep *report) storeRows(key []byte, mc, rd *extServer) error {
	o := rep.o
	progress("store level: 3 nodes (this process + 2 app processes), %d-byte sessions", o.size)
	c, err := openStoreCluster(key, o.size)
	if err != nil {
		return err
	}
	defer c.close()
	cases, err := sessringCases(c, o.size)
	if err != nil {
		return err
	}
	more, err := serverCases(o, mc, rd)
	if err != nil {
		return err
	}
	for _, sc := range append(cases, more...) {
		progress("  %s", sc.row.name)
		r, err := measure(sc.mk, o.duration, o.concurrency, sc.procs, storeProfiler(o, c, sc))
		if err != nil {
			return fmt.Errorf("%s: %w", sc.row.name, err)
		}
		sc.row.r = r
		rep.store = append(rep.store, sc.row)
	}
	return nil
}

func sessringCases(c *storeCluster, size int) ([]storeCase, error) {
	local, err := c.tokens(true, size)
	if err != nil {
		return nil, err
	}
	remote, err := c.tokens(false, size)
	if err != nil {
		return nil, err
	}
	procs := c.processes()
	return []storeCase{
		{storeRow{name: "sessring Find, owner-local", base: "get", target: ">=100x faster"}, c.find(local, size), procs},
		{storeRow{name: rowFindRemote, base: "get", target: "<=1x"}, c.find(remote, size), procs},
		{storeRow{name: rowCommitOwner, base: "set", target: "<=1.5x"}, c.commit(local, size), procs},
		{storeRow{name: "sessring Commit via non-owner (Sync replica)", base: "set"}, c.commit(remote, size), procs},
	}, nil
}

// serverCases are the get and set rows of the session servers that run.
func serverCases(o options, mc, rd *extServer) ([]storeCase, error) {
	var out []storeCase
	if mc != nil {
		get, set, err := blobOps(newMemcachedBlobs(mc.Addr, o.concurrency), o.size)
		if err != nil {
			return nil, fmt.Errorf("memcached: %w", err)
		}
		procs := serverProcesses(mc)
		out = append(out, storeCase{storeRow{name: rowMemcachedGet, base: "get"}, get, procs},
			storeCase{storeRow{name: rowMemcachedSet, base: "set"}, set, procs})
	}
	if rd != nil {
		get, set, err := blobOps(newRedisBlobs(rd.Addr, o.concurrency, 2*time.Second), o.size)
		if err != nil {
			return nil, fmt.Errorf("Redis: %w", err)
		}
		procs := serverProcesses(rd)
		out = append(out, storeCase{storeRow{name: "Redis GET (go-redis)", base: "get"}, get, procs},
			storeCase{storeRow{name: "Redis SET EX", base: "set"}, set, procs})
	}
	return out, nil
}

// serverProcesses is what a session server row uses: this process (client
// and load) and the server.
func serverProcesses(srv *extServer) *cpuSet {
	s := &cpuSet{}
	s.add("this process", os.Getpid())
	s.add(srv.name(), srv.cmd.Process.Pid)
	return s
}

// httpRows measures the HTTP-level rows (and memory, on the non-sticky
// sessring cluster).
func (rep *report) httpRows(key []byte, mc, rd *extServer) error {
	cases := []httpCase{
		{name: "floor: no sessions", backend: backendNone},
		{name: "sessring, sticky LB", backend: backendSessring, sticky: true},
		{name: "sessring, non-sticky LB", backend: backendSessring},
	}
	if mc != nil {
		cases = append(cases, httpCase{name: "memcached sessions, non-sticky (MSM-like)", backend: backendMemcached, addr: mc.Addr, server: mc})
	}
	if rd != nil {
		cases = append(cases, httpCase{name: "Redis sessions, non-sticky", backend: backendRedis, addr: rd.Addr, server: rd})
	}
	for _, c := range cases {
		progress("HTTP: %s", c.name)
		mem := c.backend == backendSessring && !c.sticky && rep.o.sessions > 0
		run, err := runHTTP(rep.o, key, c, mem)
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		rep.http = append(rep.http, run)
	}
	return nil
}

// print writes the markdown report.
func (rep *report) print(w io.Writer) {
	o := rep.o
	fmt.Fprintf(w, "## sessring benchmark, %s\n\n", rep.started.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "- machine: %s, %d CPUs (runtime.NumCPU), %s/%s, %s\n", cpuModel(), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version())
	fmt.Fprintf(w, "- command: `go run ./examples/bench%s` (-duration %v -concurrency %d -size %d -sessions %d; took %v)\n",
		argString(), o.duration, o.concurrency, o.size, o.sessions, rep.elapsed.Round(time.Second))
	fmt.Fprintf(w, "- 1-minute load average: %s at start, %s at end (anything above 0 shares the CPUs with the benchmark)\n", rep.load[0], rep.load[1])
	fmt.Fprintf(w, "- cluster: 3 node processes on 127.0.0.1, production defaults, SecretKey set (peer traffic is mutual TLS), Sync replication\n")
	for _, s := range rep.skips {
		fmt.Fprintf(w, "- %s\n", s)
	}
	if len(rep.store) > 0 {
		tableHeader(w)
		rep.printStore(w)
		fmt.Fprintf(w, "\n%s\n", rep.storeSummary())
	}
	if len(rep.http) > 0 {
		tableHeader(w)
		rep.printHTTP(w)
		fmt.Fprintf(w, "\n%s\n", rep.httpSummary())
	}
	if rep.failover != nil || rep.hasMemory() {
		tableHeader(w)
		rep.printFailover(w)
		rep.printMemory(w)
	}
	fmt.Fprintln(w)
	rep.printLegend(w)
}

func tableHeader(w io.Writer) {
	fmt.Fprintf(w, "\n| layer | row | p50 | p99 | throughput | vs memcached | notes |\n|---|---|---|---|---|---|---|\n")
}

func (rep *report) hasMemory() bool {
	for _, h := range rep.http {
		if h.mem != nil {
			return true
		}
	}
	return false
}

func (rep *report) printStore(w io.Writer) {
	base := map[string]opResult{}
	for _, r := range rep.store {
		if strings.HasPrefix(r.name, "memcached") {
			base[r.base] = r.r
		}
	}
	for _, r := range rep.store {
		vs, note := "baseline", ""
		if b, ok := base[r.base]; ok && !strings.HasPrefix(r.name, "memcached") {
			vs = ratioText(r.r.p50, b.p50, "memcached "+r.base)
			note = targetText(r.target, r.r.p50, b.p50)
		} else if !ok {
			vs = "-"
		}
		if r.r.errors > 0 {
			note = strings.TrimPrefix(note+fmt.Sprintf("; %d errors", r.r.errors), "; ")
		}
		if per := r.r.cpu.perRequest(r.r.parOps); per > 0 {
			note = strings.TrimPrefix(note+fmt.Sprintf("; CPU %s per op with %d callers (%s)", dur(per), rep.o.concurrency, r.r.cpu.text(r.r.parOps)), "; ")
			if calls := r.r.cpu.callsText(r.r.parOps); calls != "" {
				note += "; read/write-family system calls per op: " + calls
			}
		}
		fmt.Fprintf(w, "| store | %s | %s | %s | %s ops/s (1 caller), %s ops/s (%d) | %s | %s |\n",
			r.name, dur(r.r.p50), dur(r.r.p99), rate(r.r.seq), rate(r.r.par), rep.o.concurrency, vs, note)
	}
}

// ratioText compares latencies: "0.02x (47x faster)" or "1.3x".
func ratioText(d, base time.Duration, what string) string {
	if base <= 0 || d <= 0 {
		return "-"
	}
	x := float64(d) / float64(base)
	if x < 0.5 {
		return fmt.Sprintf("%.3gx p50 (%.0fx faster than %s)", x, 1/x, what)
	}
	return fmt.Sprintf("%.2fx p50 of %s", x, what)
}

// targetText checks a store row against its target.
func targetText(target string, d, base time.Duration) string {
	if target == "" || base <= 0 || d <= 0 {
		return ""
	}
	x := float64(d) / float64(base)
	met := false
	switch target {
	case ">=100x faster":
		met = x <= 0.01
	case "<=1x":
		met = x <= 1
	case "<=1.5x":
		met = x <= 1.5
	}
	verdict := "missed"
	if met {
		verdict = "met"
	}
	return fmt.Sprintf("target %s: %s", target, verdict)
}

func (rep *report) printHTTP(w io.Writer) {
	var base *loadResult
	for _, h := range rep.http {
		if h.c.backend == backendMemcached {
			base = h.res
		}
	}
	for _, h := range rep.http {
		r := h.res
		p50, p99 := r.lat.percentiles()
		reqs := float64(r.counts[outOK]) / r.elapsed.Seconds()
		vs := "-"
		if h.c.backend == backendMemcached {
			vs = "baseline"
		} else if base != nil && base.counts[outOK] > 0 {
			bp50, _ := base.lat.percentiles()
			breq := float64(base.counts[outOK]) / base.elapsed.Seconds()
			vs = fmt.Sprintf("%.2fx req/s, %.2fx p50", reqs/breq, float64(p50)/float64(bp50))
		}
		note := fmt.Sprintf("%d requests, %d errors, %d lost updates", r.requests(), r.counts[outFailed], r.counts[outLost]+r.counts[outSkipped])
		if per := h.cpu.perRequest(r.requests()); per > 0 {
			note += fmt.Sprintf("; CPU %s per request (%s)", dur(per), h.cpu.text(r.requests()))
			if calls := h.cpu.callsText(r.requests()); calls != "" {
				note += "; read/write-family system calls per request: " + calls
			}
			if d, ok := rep.sessionCPU(h); ok && h.c.backend != backendNone {
				note += fmt.Sprintf(", session CPU %s", dur(d))
			}
		}
		if h.c.backend == backendSessring && r.requests() > 0 {
			note += fmt.Sprintf(", %.2f store calls forwarded per request", float64(h.forwarded)/float64(r.requests()))
		}
		fmt.Fprintf(w, "| HTTP | %s | %s | %s | %s req/s | %s | %s%s |\n", h.c.name, dur(p50), dur(p99), rate(reqs), vs, note, errSample(r.errs))
	}
}

func (rep *report) printFailover(w io.Writer) {
	f := rep.failover
	if f == nil {
		return
	}
	op50, omax := percentileMax(&f.owned)
	rp50, rmax := percentileMax(&f.replica)
	fmt.Fprintf(w, "| failover | SIGKILL 1 of 3 app processes, %d clients | %s | max %s | - | - | "+
		"victim owned %d of %d sessions: served again after p50 %s, max %s; held the replica of %d: p50 %s, max %s; "+
		"%d never recovered; members list updated after %s; after the kill clients saw %d errors in %d requests (last at +%s), %d lost updates%s |\n",
		f.clients, dur(op50), dur(omax), f.ownedN, f.sessions, dur(op50), dur(omax), f.replicaN, dur(rp50), dur(rmax),
		f.unrecovered, dur(f.detected), f.counts[outFailed], f.requests, dur(f.lastError), f.counts[outLost]+f.counts[outSkipped], errSample(f.errs))
}

func percentileMax(s *samples) (p50, maxd time.Duration) {
	p50, _ = s.percentiles()
	if len(s.d) > 0 {
		maxd = s.d[len(s.d)-1] // sorted by percentiles
	}
	return p50, maxd
}

func (rep *report) printMemory(w io.Writer) {
	for _, h := range rep.http {
		m := h.mem
		if m == nil {
			continue
		}
		perCopy := 0.0
		if m.copies > 0 {
			perCopy = m.heap / m.copies
		}
		fmt.Fprintf(w, "| memory | %d sessions of %d B (payload) in the cluster, per node | - | - | - | - | "+
			"+%.0f session copies per node (owner + replica), Stats().BytesHeld +%s, live heap +%s after GC (%.0f B per copy); %d fill errors |\n",
			m.total, rep.o.size, m.copies, mib(m.bytesHeld), mib(m.heap), perCopy, m.failedFill)
	}
}

func (rep *report) printLegend(w io.Writer) {
	fmt.Fprintf(w, "Store rows: p50/p99 from one caller timing each call; throughput from 1 and %d callers; "+
		"CPU per op: user+system CPU time of this process and of the node processes (sessring) or the server (memcached, Redis) "+
		"while the callers ran, divided by their operations. "+
		"HTTP rows: %d clients, %d sessions each, through a round-robin httputil.ReverseProxy to 3 app processes; "+
		"the handler reads a counter from the session and writes counter+1; p50/p99 over successful requests. "+
		"sessring sends only the changed key; the memcached and Redis handlers read and write the whole session. "+
		"A lost update is a counter that went back. "+
		"CPU per request: user+system CPU time from /proc/<pid>/stat of every process the row uses (the 3 app processes, "+
		"this process as balancer and load generator, and the memcached or Redis server of its row), divided by the row's requests; "+
		"session CPU is that minus the floor row's. "+
		"System calls per op or request: read/write-family system calls (syscr+syscw from /proc/<pid>/io: read, write, readv, writev, pread, pwrite) "+
		"of the same processes; sendmsg/recvmsg/sendto/recvfrom are not counted, so memcached's, which replies with sendmsg, are understated.\n", rep.o.concurrency, rep.o.concurrency, sessionsPerClient)
}

// errSample names the three most common errors, if any.
func errSample(errs map[string]int) string {
	type kind struct {
		msg string
		n   int
	}
	var kinds []kind
	for k, v := range errs {
		kinds = append(kinds, kind{strings.ReplaceAll(k, "|", "/"), v})
	}
	if len(kinds) == 0 {
		return ""
	}
	slices.SortFunc(kinds, func(a, b kind) int { return b.n - a.n })
	var parts []string
	for _, k := range kinds[:min(3, len(kinds))] {
		parts = append(parts, fmt.Sprintf("%dx %q", k.n, k.msg))
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// cpuModel is the first "model name" in /proc/cpuinfo, or "unknown CPU".
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// loadAverage is the 1-minute load average from /proc/loadavg, or "n/a".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "n/a"
	}
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "n/a"
}

func argString() string {
	if len(os.Args) < 2 {
		return ""
	}
	return " " + strings.Join(os.Args[1:], " ")
}
