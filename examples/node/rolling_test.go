package main

import (
	"bufio"
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestRollingRestart: three node processes on loopback; each in turn is
// stopped with SIGTERM and started again under the same name and addresses
// while four clients increment 24 sessions through the nodes that are up.
// Every request locks its session (LockAuto locks every POST, LockExclusive
// every request), so each ownership move (the stopped node handing its
// partitions over, the restarted one taking them back) happens under
// held locks. No request may fail and no increment may be lost.
func TestRollingRestart(t *testing.T) {
	for _, mode := range []string{"auto", "exclusive"} {
		t.Run("locking="+mode, func(t *testing.T) {
			rollingRestart(t, newLoopCluster(t, 3, "-locking", mode))
		})
	}
}

// rollingRestart restarts every node of c in turn (drain, SIGTERM, start
// under the same name and addresses, wait until settled) under load from
// four clients on 24 sessions. It fails the test on any failed request and
// checks that every session then reads exactly its acknowledged count.
func rollingRestart(t *testing.T, c *labCluster) {
	sessions := make([]*labSession, 24)
	for k := range sessions {
		sessions[k] = &labSession{}
		if _, err := c.incr(sessions[k], k%3); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	type result struct{ ok, failed int }
	res := make(chan result, 1)
	go func() {
		var r result
		for {
			select {
			case <-stop:
				res <- r
				return
			default:
			}
			ok, failed := hammer(t, c, sessions, time.Second)
			r.ok, r.failed = r.ok+ok, r.failed+failed
		}
	}()
	relocks := 0
	for i := range 3 {
		relocks += c.counter(i, "sessring_sessions_relocks_total")
		c.term(i)
		t.Logf("%s stopped with SIGTERM", c.name(i))
		seeds := c.seeds
		if c.moves {
			c.move(i)
		} else if seeds == nil {
			seeds = c.others(i)
		}
		c.start(i, seeds)
		c.waitSettled(3)
		t.Logf("%s restarted", c.name(i))
	}
	close(stop)
	r := <-res
	for i := range 3 {
		relocks += c.counter(i, "sessring_sessions_relocks_total")
	}
	t.Logf("rolling restart under load: %d increments, %d failed, %d commits locked again after an owner change", r.ok, r.failed, relocks)
	if r.failed > 0 {
		t.Errorf("%d requests failed during a rolling restart, want 0", r.failed)
	}
	c.checkAll(sessions)
}

// counter reads a counter of node i from /metrics (0 if absent or
// unreadable: it only informs the log).
func (c *labCluster) counter(i int, name string) int {
	r, err := tryCall("GET", c.url(i)+"/metrics", nil)
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(r.body))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && (f[0] == name || strings.HasPrefix(f[0], name+"{")) {
			n, _ := strconv.ParseFloat(f[1], 64)
			return int(n)
		}
	}
	return 0
}
