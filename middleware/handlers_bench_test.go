package middleware_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	scsmem "github.com/alexedwards/scs/v2/memstore"

	"github.com/e5b1d45c/sessring/internal/memcachedtest"
)

// BenchmarkHandlers serves one real handler, which reads and updates a
// session (a counter and a three-item cart), through loopback HTTP servers,
// with benchUsers concurrent users each sending its requests one after the
// other. It compares, in one run:
//
//   - no sessions at all: the floor (HTTP and the handler alone);
//   - scs with its in-memory store (one process; nothing shared);
//   - scs with a memcached store, three app servers round-robin, which is
//     how scs users share sessions between replicas today;
//   - sessring on three nodes over real loopback TCP (peer traffic under
//     mutual TLS, as on a real network, and plaintext like memcached's),
//     requests round-robin over the three servers;
//   - sessring with Sticky tokens, each user pinned to the node that minted
//     its token (a sticky load balancer): every request is served locally.
//
// Each row reports req/s, p50 and p99 request latency (client side, sorted
// per-request durations); the table printed at the end adds the throughput
// ratios to the floor and to scs+memcached. It only prints: the numbers
// depend on the machine.
//
//	go test -run '^$' -bench BenchmarkHandlers ./middleware/
func BenchmarkHandlers(b *testing.B) {
	mc := memcachedtest.Start(b)
	rows := []struct {
		name  string
		setup func(b *testing.B) *benchTarget
	}{
		{benchFloor, func(*testing.B) *benchTarget { return floorTarget() }},
		{"scs + memstore", func(*testing.B) *benchTarget { return scsTarget(scsmem.NewWithCleanupInterval(0), 1, nil) }},
		{benchSCSMemcached, func(*testing.B) *benchTarget {
			st := newMemcacheStore(mc.Addr)
			t := scsTarget(st, 3, func() { st.c.Close() })
			t.serverPid = mc.Pid()
			return t
		}},
		{"sessring 3 nodes round-robin (mTLS)", func(b *testing.B) *benchTarget { return sessringTarget(b, benchKey, false) }},
		{"sessring 3 nodes round-robin (plain)", func(b *testing.B) *benchTarget { return sessringTarget(b, nil, false) }},
		{"sessring 3 nodes sticky (mTLS)", func(b *testing.B) *benchTarget { return sessringTarget(b, benchKey, true) }},
	}
	res := map[string]handlerResult{}
	var names []string
	for _, row := range rows {
		var target *benchTarget
		ok := b.Run(row.name, func(b *testing.B) {
			if target == nil { // once per row, kept across the b.N rounds
				target = row.setup(b)
			}
			res[row.name] = target.run(b)
		})
		if target != nil {
			target.close()
		}
		if ok && target != nil {
			names = append(names, row.name)
		}
	}
	printHandlerTable(names, res)
}

const (
	benchUsers        = 8  // concurrent users (sessions), one request at a time each
	benchWarmup       = 20 // untimed requests per user before measuring
	benchFloor        = "no sessions (floor)"
	benchSCSMemcached = "scs + memcached"
)

var benchKey = []byte("0123456789abcdef0123456789abcdef")

// handlerResult is one row of the table.
type handlerResult struct {
	reqPerSec float64
	p50, p99  time.Duration
	// cpu is the CPU time per request of this process (clients and
	// servers) and of the row's session server, if any.
	cpu time.Duration
}

// benchTarget is a set of app servers and how a user picks one.
type benchTarget struct {
	urls []string
	// pick returns the server for a user's i-th request; nil: round-robin.
	pick func(user, i int) string
	// counts: the handler answers the session's counter, which must go up
	// by one per request of the user, whichever server served it.
	counts bool
	close  func()
	// serverPid is a session server process whose CPU time the row also
	// uses (memcached); 0 for none.
	serverPid int
}

// benchApp is the handler measured: it reads and updates a counter and a
// small cart, through whichever session layer api is (nil: none).
func benchApp(api sessionAPI) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if api == nil {
			io.WriteString(w, "1")
			return
		}
		n := api.getInt(r, "counter") + 1
		api.put(r, "counter", n)
		cart, _ := api.get(r, "cart").(map[string]int)
		if cart == nil {
			cart = map[string]int{}
		}
		cart[fmt.Sprintf("sku-%d", n%3)]++
		api.put(r, "cart", cart)
		fmt.Fprint(w, n)
	})
}

// run has benchUsers users send b.N requests in all and measures them.
func (t *benchTarget) run(b *testing.B) handlerResult {
	tr := &http.Transport{MaxIdleConnsPerHost: benchUsers, MaxIdleConns: 4 * benchUsers}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	users := make([]*benchUser, benchUsers)
	for u := range users {
		users[u] = &benchUser{id: u, t: t, client: client}
		for range benchWarmup {
			if _, err := users[u].do(); err != nil {
				b.Fatalf("warm-up: %v", err)
			}
		}
	}
	var next atomic.Int64
	lats := make([][]time.Duration, benchUsers)
	errs := make([]error, benchUsers)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	cpuBefore := t.cpuTime(b)
	for u := range users {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				d, err := users[u].do()
				if err != nil {
					errs[u] = err
					return
				}
				lats[u] = append(lats[u], d)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := t.cpuTime(b) - cpuBefore
	b.StopTimer()
	if err := errors.Join(errs...); err != nil {
		b.Fatal(err)
	}
	all := slices.Concat(lats...)
	slices.Sort(all)
	r := handlerResult{
		reqPerSec: float64(len(all)) / elapsed.Seconds(),
		p50:       quantile(all, 0.50),
		p99:       quantile(all, 0.99),
		cpu:       cpu / time.Duration(max(1, len(all))),
	}
	b.ReportMetric(r.reqPerSec, "req/s")
	b.ReportMetric(float64(r.cpu.Nanoseconds()), "cpu-ns/req")
	b.ReportMetric(float64(r.p50.Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(r.p99.Nanoseconds()), "p99-ns")
	return r
}

// cpuTime is the user+system CPU time used so far by this process and the
// target's session server, from the operating system's accounting.
func (t *benchTarget) cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	d := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	if t.serverPid != 0 {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", t.serverPid))
		if err != nil {
			b.Fatal(err)
		}
		s := string(raw)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		utime, _ := strconv.ParseInt(f[11], 10, 64)
		stime, _ := strconv.ParseInt(f[12], 10, 64)
		d += time.Duration(utime+stime) * time.Second / 100 // USER_HZ
	}
	return d
}

// quantile of sorted durations (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

// benchUser is one browser: its session cookie and its request count.
type benchUser struct {
	id     int
	t      *benchTarget
	client *http.Client
	cookie string // "name=value", or ""
	n      int
}

// do sends the user's next request and returns its latency.
func (u *benchUser) do() (time.Duration, error) {
	url := u.t.urls[(u.id+u.n)%len(u.t.urls)]
	if u.t.pick != nil {
		url = u.t.pick(u.id, u.n)
	}
	u.n++
	req, err := http.NewRequest(http.MethodGet, url+"/", nil)
	if err != nil {
		return 0, err
	}
	if u.cookie != "" {
		req.Header.Set("Cookie", u.cookie)
	}
	start := time.Now()
	resp, err := u.client.Do(req)
	if err != nil {
		return 0, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	d := time.Since(start)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK || u.t.counts && string(body) != strconv.Itoa(u.n) {
		return 0, fmt.Errorf("user %d request %d via %s = %d %q, want 200 %d", u.id, u.n, url, resp.StatusCode, body, u.n)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "sessring" {
			u.cookie = c.Name + "=" + c.Value
		}
	}
	return d, nil
}

// printHandlerTable prints the rows measured in this run (those filtered
// out by -bench are missing), with throughput ratios.
func printHandlerTable(names []string, res map[string]handlerResult) {
	floor, hasFloor := res[benchFloor]
	mc, hasMC := res[benchSCSMemcached]
	ratio := func(ok bool, r, base handlerResult) string {
		if !ok || base.reqPerSec == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2fx", r.reqPerSec/base.reqPerSec)
	}
	// Session CPU: a row's CPU per request minus the floor's, divided by
	// scs+memcached's.
	session := func(name string, r handlerResult) string {
		if name == benchFloor || !hasFloor || !hasMC || mc.cpu <= floor.cpu {
			return "-"
		}
		return fmt.Sprintf("%.2fx", float64(r.cpu-floor.cpu)/float64(mc.cpu-floor.cpu))
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nsession middleware, read+update handler, %d concurrent users over loopback HTTP\n", benchUsers)
	fmt.Fprintf(&sb, "%-38s %9s %9s %9s %9s %11s %9s %14s\n", "", "req/s", "p50", "p99", "÷ floor", "÷ scs+mc", "CPU/req", "session CPU ÷")
	for _, name := range names {
		r := res[name]
		fmt.Fprintf(&sb, "%-38s %9.0f %9s %9s %9s %11s %9s %14s\n", name, r.reqPerSec,
			r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond),
			ratio(hasFloor, r, floor), ratio(hasMC, r, mc), r.cpu.Round(time.Microsecond/10), session(name, r))
	}
	fmt.Fprintf(&sb, "CPU/req: user+system CPU time of this process (clients and servers) and memcached, per request; "+
		"session CPU ÷: (CPU/req - floor's) ÷ (scs+memcached's - floor's)\n")
	fmt.Print(sb.String())
}
