package gossip

import (
	"context"
	"log"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// records is a slog.Handler that keeps the records at or above min.
type records struct {
	min slog.Level
	mu  sync.Mutex
	got []slog.Record
}

func (r *records) Enabled(_ context.Context, l slog.Level) bool { return l >= r.min }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, rec)
	return nil
}
func (r *records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *records) WithGroup(string) slog.Handler      { return r }

func TestMemberlistLogRouting(t *testing.T) {
	tests := []struct {
		line  string
		level slog.Level
		msg   string
	}{
		{"[ERR] memberlist: Failed to send ping: boom\n", slog.LevelError, "Failed to send ping: boom"},
		{"[WARN] memberlist: Refuting a suspect message (from: b)\n", slog.LevelWarn, "Refuting a suspect message (from: b)"},
		{"[INFO] memberlist: Marking c as failed\n", slog.LevelDebug, "Marking c as failed"},
		{"[DEBUG] memberlist: Stream connection from=1.2.3.4:5\n", slog.LevelDebug, "Stream connection from=1.2.3.4:5"},
		{"Err: Could not set the deadline\n", slog.LevelDebug, "Err: Could not set the deadline"},
	}
	for _, tt := range tests {
		h := &records{min: slog.LevelDebug}
		newMemberlistLogger(slog.New(h)).Print(tt.line)
		if len(h.got) != 1 {
			t.Fatalf("%q produced %d records, want 1", tt.line, len(h.got))
		}
		if r := h.got[0]; r.Level != tt.level || r.Message != tt.msg {
			t.Errorf("%q logged as %v %q, want %v %q", tt.line, r.Level, r.Message, tt.level, tt.msg)
		}
	}
}

func TestMemberlistLogSkipsDisabledLevels(t *testing.T) {
	h := &records{min: slog.LevelWarn}
	l := newMemberlistLogger(slog.New(h))
	l.Print("[DEBUG] memberlist: noise")
	l.Print("[INFO] memberlist: routine")
	if len(h.got) != 0 {
		t.Errorf("debug and info lines produced %d records on a Warn logger, want 0", len(h.got))
	}
}

// fakeClock is a settable time source.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestMemberlistLogRateLimit(t *testing.T) {
	h := &records{min: slog.LevelDebug}
	clock := &fakeClock{t: time.Unix(1e9, 0)}
	l := log.New(newLogWriter(slog.New(h), clock.now), "", 0)
	for port := range 100 {
		l.Printf("[ERR] memberlist: Decrypt packet failed: no installed keys could decrypt the message from=10.0.0.7:%d", 40000+port)
		l.Printf("[WARN] memberlist: failed to resolve nosuch.invalid:7946: lookup nosuch.invalid: no such host")
		l.Printf("[ERR] memberlist: failed to receive: No installed keys could decrypt the message from=10.0.0.8:%d", 40000+port)
	}
	l.Printf("[DEBUG] memberlist: Stream connection from=10.0.0.7:1")
	l.Printf("[DEBUG] memberlist: Stream connection from=10.0.0.7:1")
	want := []struct {
		level slog.Level
		msg   string
	}{
		{slog.LevelError, "gossip from 10.0.0.7:40000 could not be decrypted: does its SecretKey differ?"},
		{slog.LevelWarn, "gossip: cannot resolve seed nosuch.invalid:7946 (retrying)"},
		{slog.LevelError, "gossip from 10.0.0.8:40000 could not be decrypted: does its SecretKey differ?"},
		{slog.LevelDebug, "Stream connection from=10.0.0.7:1"},
		{slog.LevelDebug, "Stream connection from=10.0.0.7:1"},
	}
	if len(h.got) != len(want) {
		for _, r := range h.got {
			t.Logf("%v %s", r.Level, r.Message)
		}
		t.Fatalf("300 warnings and errors about 3 causes, 2 debug lines: %d records, want %d", len(h.got), len(want))
	}
	for i, w := range want {
		if r := h.got[i]; r.Level != w.level || r.Message != w.msg {
			t.Errorf("record %d = %v %q, want %v %q", i, r.Level, r.Message, w.level, w.msg)
		}
	}

	// A minute later the next one is written, saying how many were held.
	clock.t = clock.t.Add(logRepeat)
	h.got = nil
	l.Printf("[ERR] memberlist: Decrypt packet failed: no installed keys could decrypt the message from=10.0.0.7:50000")
	if len(h.got) != 1 {
		t.Fatalf("after %v: %d records, want 1", logRepeat, len(h.got))
	}
	var held int64
	h.got[0].Attrs(func(a slog.Attr) bool {
		if a.Key == "repeats_held_back" {
			held = a.Value.Int64()
		}
		return true
	})
	if held != 99 {
		t.Errorf("repeats_held_back = %d, want 99", held)
	}
}

// TestMemberlistLogKeysBounded: distinct lines from ever new peers within a
// minute do not grow the rate limiter's table past its bound.
func TestMemberlistLogKeysBounded(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1e9, 0)}
	w := newLogWriter(slog.New(&records{min: slog.LevelDebug}), clock.now)
	l := log.New(w, "", 0)
	for i := range 3 * maxLogKeys {
		l.Printf("[WARN] memberlist: Got ping for unexpected node 'n%d'", i)
		clock.t = clock.t.Add(time.Millisecond)
	}
	w.mu.Lock()
	n := len(w.said)
	w.mu.Unlock()
	if n > maxLogKeys {
		t.Errorf("rate limiter remembers %d lines, want at most %d", n, maxLogKeys)
	}
}
