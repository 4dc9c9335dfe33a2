package gossip

import (
	"context"
	"log/slog"
	"sync"
	"testing"
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
