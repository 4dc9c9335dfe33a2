package gossip

import (
	"context"
	"log"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// memberlist's log lines, made readable.
//
// memberlist reports per packet: a peer with another SecretKey produces an
// ERROR for every UDP packet and TCP stream it sends (about five a second),
// and an unresolvable seed a WARN for every join attempt. Lines at Warn and
// above are therefore said in this package's words where they are known, and
// each distinct line (per peer address) at most once per logRepeat; the next
// one after a quiet spell says how many were held back.

// logRepeat is how often one distinct warning or error may be repeated.
const logRepeat = time.Minute

// newMemberlistLogger returns a *log.Logger (what memberlist accepts) whose
// lines go to l.
func newMemberlistLogger(l *slog.Logger) *log.Logger {
	return log.New(newLogWriter(l.With("component", "memberlist"), time.Now), "", 0)
}

// logWriter turns memberlist's log lines, "[LEVEL] memberlist: message",
// into slog records: [ERR] at Error, [WARN] at Warn and the rest ([INFO],
// [DEBUG], untagged) at Debug, since memberlist reports routine membership
// changes at INFO. log.Logger makes one Write call per line.
type logWriter struct {
	l   *slog.Logger
	now func() time.Time

	// mu guards said.
	mu   sync.Mutex
	said map[string]*logSeen // by line key
}

// logSeen tracks one distinct line.
type logSeen struct {
	at   time.Time // when it was last written
	held int       // repeats not written since
}

func newLogWriter(l *slog.Logger, now func() time.Time) *logWriter {
	return &logWriter{l: l, now: now, said: make(map[string]*logSeen)}
}

func (w *logWriter) Write(p []byte) (int, error) {
	level, msg := parseLogLine(string(p))
	ctx := context.Background()
	if !w.l.Enabled(ctx, level) {
		return len(p), nil
	}
	if level < slog.LevelWarn {
		w.l.Log(ctx, level, msg)
		return len(p), nil
	}
	key, level, msg, attrs := translate(level, msg)
	if held, ok := w.admit(key); ok {
		if held > 0 {
			attrs = append(attrs, "repeats_held_back", held)
		}
		w.l.Log(ctx, level, msg, attrs...)
	}
	return len(p), nil
}

// admit reports whether the line with key may be written now and how many
// of its repeats were held back before it.
func (w *logWriter) admit(key string) (held int, ok bool) {
	now := w.now()
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.said[key]
	if s == nil {
		if len(w.said) >= maxLogKeys { // many peers or messages: forget the old ones
			w.forget(now)
		}
		w.said[key] = &logSeen{at: now}
		return 0, true
	}
	if now.Sub(s.at) < logRepeat {
		s.held++
		return 0, false
	}
	held, s.at, s.held = s.held, now, 0
	return held, true
}

// maxLogKeys bounds the distinct lines remembered for rate limiting.
const maxLogKeys = 1000

// forget drops the lines last written logRepeat ago or more and, if that
// leaves the table full, the one written longest ago, so the table stays
// bounded whatever peers send. w.mu is held.
func (w *logWriter) forget(now time.Time) {
	oldest, oldestAt := "", now
	for k, v := range w.said {
		if now.Sub(v.at) >= logRepeat {
			delete(w.said, k)
		} else if v.at.Before(oldestAt) || oldest == "" {
			oldest, oldestAt = k, v.at
		}
	}
	if len(w.said) >= maxLogKeys {
		delete(w.said, oldest)
	}
}

// translate says a known memberlist warning or error in this package's
// words. key identifies the line for rate limiting: its text without the
// peer's port, which changes with every connection.
func translate(level slog.Level, msg string) (key string, _ slog.Level, _ string, attrs []any) {
	from := fromAddr(msg)
	lower := strings.ToLower(msg)
	switch {
	case strings.Contains(lower, "decrypt") || strings.Contains(lower, "encrypt"):
		// Wrong key, or a key on one side only.
		return "decrypt " + hostOf(from), slog.LevelError,
			"gossip from " + from + " could not be decrypted: does its SecretKey differ?", []any{"err", msg}
	case strings.HasPrefix(msg, "failed to resolve "):
		seed, _, _ := strings.Cut(strings.TrimPrefix(msg, "failed to resolve "), ": ")
		return "resolve " + seed, slog.LevelWarn,
			"gossip: cannot resolve seed " + seed + " (retrying)", []any{"err", msg}
	}
	key = msg
	if from != "" {
		key = strings.Replace(msg, from, hostOf(from), 1)
	}
	return key, level, msg, nil
}

// fromAddr returns the address of memberlist's "from=host:port" suffix.
func fromAddr(msg string) string {
	_, after, ok := strings.Cut(msg, "from=")
	if !ok {
		return ""
	}
	addr, _, _ := strings.Cut(after, " ")
	return addr
}

// hostOf strips the port from host:port (peers connect from many ports).
func hostOf(addr string) string {
	if i := strings.LastIndexByte(addr, ':'); i > 0 && !strings.HasSuffix(addr, "]") {
		return addr[:i]
	}
	return addr
}

// parseLogLine splits a memberlist log line into its level and message.
func parseLogLine(line string) (slog.Level, string) {
	line = strings.TrimSpace(line)
	level := slog.LevelDebug
	for _, tag := range []struct {
		prefix string
		level  slog.Level
	}{{"[ERR]", slog.LevelError}, {"[ERROR]", slog.LevelError}, {"[WARN]", slog.LevelWarn}, {"[INFO]", slog.LevelDebug}, {"[DEBUG]", slog.LevelDebug}} {
		if rest, ok := strings.CutPrefix(line, tag.prefix); ok {
			level, line = tag.level, strings.TrimSpace(rest)
			break
		}
	}
	return level, strings.TrimPrefix(line, "memberlist: ")
}
