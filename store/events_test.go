package store

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/e5b1d45c/sessring/gossip"
	"github.com/e5b1d45c/sessring/internal/testkit"
)

// capture is a slog.Handler keeping every record with the attributes
// added by With, so tests can check what an operator would read.
type capture struct {
	mu   *sync.Mutex
	recs *[]capturedRecord
	with []slog.Attr
}

type capturedRecord struct {
	level slog.Level
	msg   string
	attrs []slog.Attr // With attributes first, then the record's
}

func newCapture() *capture { return &capture{mu: new(sync.Mutex), recs: new([]capturedRecord)} }

func (c *capture) Enabled(context.Context, slog.Level) bool { return true }

func (c *capture) Handle(_ context.Context, r slog.Record) error {
	rec := capturedRecord{level: r.Level, msg: r.Message, attrs: append([]slog.Attr(nil), c.with...)}
	r.Attrs(func(a slog.Attr) bool { rec.attrs = append(rec.attrs, a); return true })
	c.mu.Lock()
	*c.recs = append(*c.recs, rec)
	c.mu.Unlock()
	return nil
}

func (c *capture) WithAttrs(as []slog.Attr) slog.Handler {
	d := *c
	d.with = append(append([]slog.Attr(nil), c.with...), as...)
	return &d
}

func (c *capture) WithGroup(string) slog.Handler { return c }

func (c *capture) records() []capturedRecord {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]capturedRecord(nil), *c.recs...)
}

func (r capturedRecord) attr(key string) string {
	for _, a := range r.attrs {
		if a.Key == key {
			return a.Value.String()
		}
	}
	return ""
}

// count returns how many records say msg, from node about member.
func (c *capture) count(msg, node, member string) int {
	n := 0
	for _, r := range c.records() {
		if r.msg == msg && r.attr("node") == node && r.attr("member") == member {
			n++
		}
	}
	return n
}

// eventLog is a hand-written Observer keeping what it was told.
type eventLog struct {
	mu     sync.Mutex
	events []Event
	ops    map[Op]int
}

func (l *eventLog) ObserveOp(op Op, d time.Duration) {
	l.mu.Lock()
	if l.ops == nil {
		l.ops = map[Op]int{}
	}
	l.ops[op]++
	l.mu.Unlock()
}

func (l *eventLog) ObserveEvent(e Event) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

func (l *eventLog) find(kind EventKind, node, member string) (Event, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var got Event
	n := 0
	for _, e := range l.events {
		if e.Kind == kind && e.Node == node && e.Member == member {
			got = e
			n++
		}
	}
	return got, n
}

func (l *eventLog) opCount(op Op) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ops[op]
}

// TestMembershipLogs runs a healthy start, a crash and a graceful leave, and
// checks the log an operator reads: each member joined, failed or left
// once, the failure with its detection time; no false alarm about the
// majority; node= once per line.
func TestMembershipLogs(t *testing.T) {
	logs, obs := newCapture(), &eventLog{}
	c := newTestClusterWith(t, 3, func(cfg *Config) { cfg.Logger, cfg.Observer = slog.New(logs), obs })
	for _, r := range logs.records() {
		if strings.Contains(r.msg, "cut off") || strings.Contains(r.msg, "majority reachable") {
			t.Errorf("healthy start logged %q (node %s)", r.msg, r.attr("node"))
		}
	}
	for _, pair := range [][2]string{{"node-01", "node-02"}, {"node-01", "node-03"}, {"node-02", "node-03"}} {
		if got := logs.count("member joined", pair[0], pair[1]); got != 1 {
			t.Errorf("%s logged %q member=%s %d times, want once", pair[0], "member joined", pair[1], got)
		}
	}

	// Traffic, so the latency hooks fire on both paths.
	for i := range 20 {
		tok := fmt.Sprintf("obs-%02d", i)
		if err := c.Node("node-01").Commit(tok, []byte("v"), time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.Node("node-01").Find(tok); err != nil {
			t.Fatal(err)
		}
	}
	for _, op := range []Op{OpWriteLocal, OpWriteForwarded, OpReadLocal, OpReadForwarded, OpReplicate} {
		if obs.opCount(op) == 0 {
			t.Errorf("no %s observed after 20 writes and reads from one node of three", op)
		}
	}

	c.Crash("node-03")
	for _, n := range []string{"node-01", "node-02"} {
		testkit.Eventually(t, 20*time.Second, n+" logs node-03 failed", func() bool { return logs.count("member failed", n, "node-03") > 0 })
		testkit.Eventually(t, 20*time.Second, n+" caught up after the failure", func() bool {
			_, k := obs.find(EventCaughtUp, n, "")
			return k > 0
		})
		e, k := obs.find(EventFailed, n, "node-03")
		if k != 1 || e.Took <= 0 || e.Took > 10*time.Second {
			t.Errorf("%s reported node-03 failed %d times, detection %v; want once, with a positive detection time", n, k, e.Took)
		}
	}
	c.Leave("node-02")
	testkit.Eventually(t, 20*time.Second, "node-01 logs node-02 left", func() bool { return logs.count("member left", "node-01", "node-02") > 0 })

	for msg, member := range map[string]string{"member failed": "node-03", "member left": "node-02"} {
		if got := logs.count(msg, "node-01", member); got != 1 {
			t.Errorf("node-01 logged %q member=%s %d times, want once", msg, member, got)
		}
	}
	if got := logs.count("member failed", "node-01", "node-02"); got != 0 {
		t.Errorf("node-01 logged the graceful leave of node-02 as a failure %d times", got)
	}
	for _, r := range logs.records() {
		nodes := 0
		for _, a := range r.attrs {
			if a.Key == "node" {
				nodes++
			}
		}
		if nodes != 1 {
			t.Errorf("%q has node= %d times, want once (attrs %v)", r.msg, nodes, r.attrs)
		}
	}
}

// TestNewMemberIsNotSilence: a member that just joined and has not been
// heard from yet does not make this node look cut off from the majority
// (a healthy start used to log "cut off" then "majority reachable again"),
// while a member silent since long ago still does.
func TestNewMemberIsNotSilence(t *testing.T) {
	member := func(name string) gossip.Member {
		return gossip.Member{Name: name, Meta: gossip.Meta{RPCAddr: name + ":1"}}
	}
	n := &Node{name: "a", reach: reachability{heard: map[string]time.Time{}, pinging: map[string]bool{}}}
	now := time.Now()
	alone := newView("a", []gossip.Member{member("a")}, nil, 16, false, nil)
	n.reach.noteAdded(nil, alone, now.Add(-time.Minute))
	pair := newView("a", []gossip.Member{member("a"), member("b")}, nil, 16, false, alone)
	n.reach.noteAdded(alone, pair, now.Add(-50*time.Millisecond))
	if got := n.majoritySilence(pair, now); got != 50*time.Millisecond {
		t.Errorf("silence with b joined 50ms ago, never heard = %v, want 50ms", got)
	}
	n.reach.note("b", now.Add(-10*time.Second))
	if got := n.majoritySilence(pair, now); got != 10*time.Second {
		t.Errorf("silence with b last heard 10s ago = %v, want 10s", got)
	}
}
