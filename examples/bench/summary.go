package main

import (
	"fmt"
	"time"
)

// The summary lines printed after the store and HTTP tables: each compares
// sessring with memcached within one run.

// storeSummary compares the throughput of -concurrency callers with
// memcached's: "store throughput with 16 callers vs memcached: remote Find
// 1.05x get, Commit at owner 0.90x set".
func (rep *report) storeSummary() string {
	par := map[string]float64{}
	for _, r := range rep.store {
		par[r.name] = r.r.par
	}
	x := func(row, base string) string {
		if par[row] <= 0 || par[base] <= 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.2fx", par[row]/par[base])
	}
	cpu := map[string]time.Duration{}
	for _, r := range rep.store {
		cpu[r.name] = r.r.cpu.perRequest(r.r.parOps)
	}
	y := func(row, base string) string {
		if cpu[row] <= 0 || cpu[base] <= 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.2fx", float64(cpu[row])/float64(cpu[base]))
	}
	return fmt.Sprintf("store throughput with %d callers vs memcached: remote Find %s get, Commit at owner %s set\n\n"+
		"store CPU per operation with %d callers vs memcached: remote Find %s get, Commit at owner %s set",
		rep.o.concurrency, x(rowFindRemote, rowMemcachedGet), x(rowCommitOwner, rowMemcachedSet),
		rep.o.concurrency, y(rowFindRemote, rowMemcachedGet), y(rowCommitOwner, rowMemcachedSet))
}

// sessionCPU is a row's CPU per request minus the floor row's: what the
// session layer costs, in every process it runs in.
func (rep *report) sessionCPU(h *httpRun) (time.Duration, bool) {
	for _, f := range rep.http {
		if f.c.backend == backendNone && f.cpu != nil && h.cpu != nil {
			return h.cpu.perRequest(h.res.requests()) - f.cpu.perRequest(f.res.requests()), true
		}
	}
	return 0, false
}

// httpSummary divides the sessring rows' session CPU per request by the
// memcached row's.
func (rep *report) httpSummary() string {
	var base time.Duration
	for _, h := range rep.http {
		if h.c.backend == backendMemcached {
			base, _ = rep.sessionCPU(h)
		}
	}
	x := func(sticky bool) string {
		for _, h := range rep.http {
			if h.c.backend != backendSessring || h.c.sticky != sticky {
				continue
			}
			if d, ok := rep.sessionCPU(h); ok && base > 0 {
				return fmt.Sprintf("%.2fx", float64(d)/float64(base))
			}
		}
		return "n/a"
	}
	return fmt.Sprintf("session CPU per request vs memcached sessions: sticky %s, non-sticky %s", x(true), x(false))
}
