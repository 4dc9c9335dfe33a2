package main

import (
	"context"
	"strings"
	"sync"
	"time"
)

// Failover: three sessring app processes behind the load balancer
// (non-sticky), one client per session. Once the load runs, one app process
// gets SIGKILL. For every session the victim owned (and, separately, every
// session it held the replica of), recovery is the time from the kill to the
// end of the first request that started after the kill and succeeded with
// the right counter. Errors are every failed request that ended after the
// kill; lost updates are counters that went back.

// failoverResult sums up the failover phase.
type failoverResult struct {
	owned, replica    samples // recovery time per affected session
	ownedN, replicaN  int     // sessions affected
	unrecovered       int
	detected          time.Duration // when a survivor's member list dropped the victim
	requests          int           // requests that ended after the kill
	counts            [4]int        // by outcome
	lastError         time.Duration // end of the last failed request, after the kill
	errs              map[string]int
	sessions, clients int
}

// watch follows the requests around the kill; its methods are called from
// the load workers.
type watch struct {
	victim string
	roles  map[int]string // session id -> "owner" or "replica" (victim's role)

	mu        sync.Mutex // guards the fields below
	killAt    time.Time
	recovered map[int]time.Duration
	res       *failoverResult
}

func runFailover(o options, key []byte) (*failoverResult, error) {
	spec := appSpec{Backend: backendSessring, Key: key, Size: o.size, Verbose: o.verbose}
	apps, err := startApps(spec, 3)
	if err != nil {
		return nil, err
	}
	defer stopApps(apps)
	bal, err := newBalancer(httpAddrs(apps), false, o.concurrency*sessionsPerClient)
	if err != nil {
		return nil, err
	}
	addr, stop, err := bal.ServeLoopback()
	if err != nil {
		return nil, err
	}
	defer stop()
	clients := o.concurrency * sessionsPerClient
	l := newLoader(addr, clients, 1, true)
	defer l.close()
	if err := l.prime(); err != nil {
		return nil, err
	}
	victim := apps[1]
	w, err := newWatch(apps[0], victim.name, l.sessions)
	if err != nil {
		return nil, err
	}
	w.res.sessions, w.res.clients = len(l.sessions), clients
	l.observe = w.observe
	w.killDuringLoad(l, victim, apps[0])
	return w.res, nil
}

// newWatch asks a node for each session's owner and replica.
func newWatch(probe *appProc, victim string, sessions []*vsession) (*watch, error) {
	w := &watch{victim: victim, roles: map[int]string{}, recovered: map[int]time.Duration{},
		res: &failoverResult{errs: map[string]int{}}}
	for _, s := range sessions {
		body, err := probe.get("/_owner?token=" + s.token())
		if err != nil {
			return nil, err
		}
		switch f := strings.Fields(body); {
		case len(f) > 0 && f[0] == victim:
			w.roles[s.id] = "owner"
			w.res.ownedN++
		case len(f) > 1 && f[1] == victim:
			w.roles[s.id] = "replica"
			w.res.replicaN++
		}
	}
	return w, nil
}

// killDuringLoad runs the load, kills victim after a second, waits until
// every affected session was served again (at most 30s), watches one more
// second for stragglers, and stops.
func (w *watch) killDuringLoad(l *loader, victim, survivor *appProc) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.run(ctx)
	}()
	time.Sleep(time.Second)
	w.mu.Lock()
	w.killAt = time.Now()
	w.mu.Unlock()
	victim.child.Kill()
	if waitFor(30*time.Second, func() bool { st, err := survivor.stats(false); return err == nil && st.Members == 2 }) {
		w.res.detected = time.Since(w.killAt)
	}
	waitFor(30*time.Second, w.allRecovered)
	time.Sleep(time.Second)
	cancel()
	<-done
	w.finish()
}

func (w *watch) observe(ev event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.killAt.IsZero() || ev.end.Before(w.killAt) {
		return
	}
	w.res.requests++
	w.res.counts[ev.out]++
	if ev.out != outOK {
		w.res.lastError = max(w.res.lastError, ev.end.Sub(w.killAt))
		if len(w.res.errs) < 20 {
			w.res.errs[ev.detail]++
		}
		return
	}
	if _, done := w.recovered[ev.sess.id]; done || ev.start.Before(w.killAt) || w.roles[ev.sess.id] == "" {
		return
	}
	w.recovered[ev.sess.id] = ev.end.Sub(w.killAt)
}

func (w *watch) allRecovered() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.recovered) == len(w.roles)
}

func (w *watch) finish() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, role := range w.roles {
		d, ok := w.recovered[id]
		switch {
		case !ok:
			w.res.unrecovered++
		case role == "owner":
			w.res.owned.add(d)
		default:
			w.res.replica.add(d)
		}
	}
}
